import type { Task } from '@aws-sdk/client-ecs';

/** DescribeTasks takes at most 100 tasks per call. */
export const MAX_DESCRIBE_TASKS = 100;

/** Describes up to 100 tasks in one call; tasks ECS does not know are absent from the result. */
export type DescribeTasksCall = (arns: readonly string[]) => Promise<readonly Task[]>;

interface Pending {
  readonly arn: string;
  readonly resolve: (task: Task | undefined) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Gathers the DescribeTasks lookups of concurrent launches into as few calls as possible (at most
 * 100 tasks each): every lookup made within `windowMs` of the first shares the next call. A task
 * ECS does not (yet) know resolves to undefined (`MISSING`).
 */
export class DescribeBatcher {
  readonly #call: DescribeTasksCall;
  readonly #windowMs: number;
  #pending: Pending[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(call: DescribeTasksCall, windowMs = 20) {
    this.#call = call;
    this.#windowMs = windowMs;
  }

  /** The task's current description, or undefined when ECS answers MISSING. */
  describe(arn: string): Promise<Task | undefined> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ arn, resolve, reject });
      this.#timer ??= setTimeout(() => this.#flush(), this.#windowMs);
    });
  }

  #flush(): void {
    this.#timer = undefined;
    const pending = this.#pending;
    this.#pending = [];
    const arns = [...new Set(pending.map((entry) => entry.arn))];
    for (let start = 0; start < arns.length; start += MAX_DESCRIBE_TASKS) {
      const chunk = arns.slice(start, start + MAX_DESCRIBE_TASKS);
      const waiting = pending.filter((entry) => chunk.includes(entry.arn));
      this.#call(chunk).then(
        (tasks) => {
          for (const entry of waiting) entry.resolve(tasks.find((task) => task.taskArn === entry.arn));
        },
        (error: unknown) => {
          for (const entry of waiting) entry.reject(error);
        },
      );
    }
  }
}

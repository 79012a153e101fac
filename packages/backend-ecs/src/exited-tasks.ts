import type { Task } from '@aws-sdk/client-ecs';
import { MAX_DESCRIBE_TASKS } from './describe-batcher.ts';
import { taskName } from './task-info.ts';

/** The reason StopTask records when dde removes a task (a prefix: launches add why). */
export const REMOVED_REASON = 'Removed by dde';

/** What {@link ExitedTasks} needs. */
export interface ExitedTasksSettings {
  /** How long after it stopped a task stays listed; 0 lists none. */
  readonly retentionMs: number;
  /** The ARNs of the namespace's tasks ECS wants stopped (ListTasks, desiredStatus STOPPED). */
  readonly listStopped: (signal?: AbortSignal) => Promise<string[]>;
  /** DescribeTasks, at most {@link MAX_DESCRIBE_TASKS} at a time (tags are gone: not asked for). */
  readonly describe: (arns: readonly string[], signal?: AbortSignal) => Promise<Task[]>;
}

/**
 * The tasks whose tool stopped by itself after it ran, kept visible for a while so that the
 * manager shows their failure (stop reason, exit code) as it does for Docker's exited containers.
 * ECS describes a stopped task for about an hour, without its tags: the name comes from `group`.
 * For each name, only its latest stopped task counts, and only when no task of that name runs,
 * dde did not stop it (remove, a failed launch), and nobody dismissed it with `remove()`.
 * A STOPPED task never changes: each is described once.
 */
export class ExitedTasks {
  readonly #settings: ExitedTasksSettings;
  readonly #stopped = new Map<string, Task>();
  readonly #dismissed = new Set<string>();

  constructor(settings: ExitedTasksSettings) {
    this.#settings = settings;
  }

  /** Hides a stopped task for good (its failure was reported, or the user removed it). */
  dismiss(arn: string): void {
    this.#dismissed.add(arn);
  }

  /** The latest exited task of each name no `live` task holds, within the retention period. */
  async list(live: readonly Task[], signal?: AbortSignal): Promise<Task[]> {
    if (this.#settings.retentionMs === 0) return [];
    const arns = await this.#settings.listStopped(signal);
    const listed = new Set(arns);
    // ECS forgets stopped tasks after a while: so does this cache.
    for (const arn of this.#stopped.keys()) if (!listed.has(arn)) this.#stopped.delete(arn);
    for (const arn of this.#dismissed) if (!listed.has(arn)) this.#dismissed.delete(arn);
    const unknown = arns.filter((arn) => !this.#stopped.has(arn));
    for (let start = 0; start < unknown.length; start += MAX_DESCRIBE_TASKS) {
      for (const task of await this.#settings.describe(
        unknown.slice(start, start + MAX_DESCRIBE_TASKS),
        signal,
      )) {
        // Still stopping: its exit code and reason may not be final yet; the next poll sees it.
        if (task.taskArn !== undefined && task.lastStatus === 'STOPPED')
          this.#stopped.set(task.taskArn, task);
      }
    }
    const running = new Set(live.map(taskName));
    const latest = new Map<string, Task>();
    for (const task of this.#stopped.values()) {
      const name = taskName(task);
      if (name === undefined || running.has(name)) continue;
      const previous = latest.get(name);
      if (previous === undefined || stoppedAt(task) > stoppedAt(previous)) latest.set(name, task);
    }
    const since = Date.now() - this.#settings.retentionMs;
    return [...latest.values()].filter(
      (task) =>
        !this.#dismissed.has(task.taskArn as string) &&
        // A task that never ran failed its launch, which reported it.
        task.startedAt !== undefined &&
        stoppedAt(task) >= since &&
        !task.stoppedReason?.startsWith(REMOVED_REASON),
    );
  }
}

function stoppedAt(task: Task): number {
  return (task.stoppedAt ?? task.stoppingAt ?? task.createdAt)?.getTime() ?? 0;
}

import type { Task } from '@aws-sdk/client-ecs';
import { abortError } from '@dde/core';
import { launchFailed } from './errors.ts';

/** First pause between two DescribeTasks of a starting task. */
export const FIRST_POLL_MS = 1000;
/** Longest pause between two DescribeTasks of a starting task. */
export const MAX_POLL_MS = 5000;
const BACKOFF = 1.5;

/** Options of {@link waitForRunning}. */
export interface WaitOptions {
  /** Looks a task up (batched); undefined means ECS answered MISSING. */
  readonly describe: (arn: string) => Promise<Task | undefined>;
  /** How long MISSING is tolerated (ECS is eventually consistent right after RunTask). */
  readonly missingGraceMs: number;
  /** The launch's deadline or cancellation. */
  readonly signal?: AbortSignal | undefined;
  /** Whether a RUNNING task is also reachable yet (its address is reported). */
  readonly isReady?: (task: Task) => boolean;
  /** Called with each status seen, e.g. to report `PENDING` as launch progress. */
  readonly onStatus?: (status: string, task: Task) => void;
  /** The container's name, for messages. */
  readonly name: string;
}

/**
 * Polls a task until it runs, backing off from 1 s to 5 s. Tolerates `MISSING` for the grace
 * period (the SDK's waiter treats it as fatal), fails fast with the stop code, the stopped reason
 * and the containers' exit codes when the task stops, and honours the signal.
 */
export async function waitForRunning(arn: string, options: WaitOptions): Promise<Task> {
  const { signal } = options;
  const started = Date.now();
  let delay = FIRST_POLL_MS;
  let lastStatus: string | undefined;
  for (;;) {
    await sleep(delay, signal, `Starting ${options.name}`);
    delay = Math.min(MAX_POLL_MS, Math.round(delay * BACKOFF));
    const task = await options.describe(arn);
    if (signal?.aborted) throw abortError(signal, `Starting ${options.name}`);
    if (task === undefined) {
      if (Date.now() - started > options.missingGraceMs) {
        throw launchFailed(
          `Task ${arn} of ${options.name} is still MISSING ${Math.round((Date.now() - started) / 1000)} s after RunTask: ECS lost it (check the cluster's capacity and events)`,
        );
      }
      continue;
    }
    const status = task.lastStatus ?? 'UNKNOWN';
    if (status !== lastStatus) {
      lastStatus = status;
      options.onStatus?.(status, task);
    }
    if (
      status === 'STOPPED' ||
      status === 'DEPROVISIONING' ||
      status === 'STOPPING' ||
      task.desiredStatus === 'STOPPED'
    ) {
      throw launchFailed(`${options.name} did not start: ${describeStop(task)}`);
    }
    if (status === 'RUNNING' && (options.isReady?.(task) ?? true)) return task;
  }
}

/**
 * Why a task stopped, in one sentence: its stop code and reason, then each container's exit
 * code and reason (e.g. `CannotPullContainerError`).
 */
export function describeStop(task: Task): string {
  const parts = [
    `the task stopped (${task.stopCode ?? 'no stop code'}: ${task.stoppedReason ?? 'no reason given'})`,
  ];
  for (const container of task.containers ?? []) {
    const details = [
      container.exitCode === undefined ? undefined : `exit code ${container.exitCode}`,
      container.reason,
    ].filter((part) => part !== undefined && part !== '');
    if (details.length > 0) parts.push(`container ${container.name ?? '?'}: ${details.join(', ')}`);
  }
  return parts.join('; ');
}

function sleep(ms: number, signal: AbortSignal | undefined, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(signal, what));
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal as AbortSignal, what));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

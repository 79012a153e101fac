import { abortError, DdeError, invalidOption } from '../errors.ts';
import type { RouteFailure } from './route-table.ts';

// Small pieces of ContainerManager's work that need none of its state.

/** The failure of a paused container. */
export const PAUSED: RouteFailure = {
  reason: 'paused',
  exitCode: undefined,
  message: 'the container is paused',
};

/** The failure of a container whose process stopped. */
export function exited(exitCode: number | undefined, why?: string): RouteFailure {
  const what =
    exitCode === undefined ? 'the container stopped' : `the container exited with code ${exitCode}`;
  return { reason: 'exited', exitCode, message: why ? `${what}: ${why}` : what };
}

/** `CONFLICT`: the name is taken. */
export function conflict(name: string, why: string): DdeError {
  return new DdeError('CONFLICT', `Container ${name} ${why}: choose another name`, { field: 'name' });
}

/** The failure of a launch that threw. */
export function launchFailure(error: unknown): RouteFailure {
  return {
    reason: 'launch-failed',
    exitCode: undefined,
    message: error instanceof Error ? error.message : String(error),
  };
}

/** `NOT_FOUND` for a managed container. */
export function notFound(name: string): DdeError {
  return new DdeError('NOT_FOUND', `No managed container named ${name}`);
}

/** Throws `INVALID_OPTION` naming `field` unless `value` is a number of ms >= 0. */
export function nonNegative(field: string, value: number): number {
  if (!Number.isFinite(value) || value < 0)
    throw invalidOption(field, `must be a number of ms >= 0, got ${value}`);
  return value;
}

/** `promise`, or the signal's error as soon as it aborts. */
export async function abortable<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  what: string,
): Promise<T> {
  if (signal === undefined) return promise;
  let onAbort: (() => void) | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        onAbort = () => reject(abortError(signal, what));
        signal.addEventListener('abort', onAbort, { once: true });
      }),
    ]);
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

import type { UpstreamClient } from '../upstream/pool.ts';

/** Options of {@link probeReadiness}. */
export interface ProbeOptions {
  /** Give up at this time (ms since the epoch). */
  readonly deadline: number;
  /** Stops probing (the container went away). */
  readonly signal: AbortSignal;
  /** Called after each failed attempt, e.g. to refresh the container's state. */
  readonly onAttempt?: (attempt: number) => void;
  /** Longest wait for one attempt, in ms. Default 5000. */
  readonly attemptTimeoutMs?: number;
}

const FIRST_DELAY_MS = 50;
const MAX_DELAY_MS = 1000;

/**
 * GETs `path` through `client` until it answers 200 (true), the deadline passes (false) or
 * the signal aborts (false). Backs off from 50 ms to 1 s between attempts, so a tool that comes
 * up quickly is seen quickly and a slow one is not hammered.
 */
export async function probeReadiness(
  client: UpstreamClient,
  path: string,
  options: ProbeOptions,
): Promise<boolean> {
  const { deadline, signal } = options;
  let delay = FIRST_DELAY_MS;
  for (let attempt = 1; !signal.aborted; attempt++) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) return false;
    const timeout = Math.min(remaining, options.attemptTimeoutMs ?? 5000);
    try {
      const response = await client.request({
        path,
        headers: { 'user-agent': 'dde-readiness-probe' },
        timeoutMs: timeout,
        // The attempt's deadline covers connecting too, which timeoutMs does not.
        signal: AbortSignal.any([signal, AbortSignal.timeout(timeout)]),
        discardBody: true,
      });
      if (response.status === 200) return !signal.aborted;
    } catch {
      // Refused, reset or timed out: the tool is not listening yet.
    }
    if (signal.aborted) return false;
    options.onAttempt?.(attempt);
    const wait = Math.min(delay, deadline - Date.now());
    if (wait > 0) await sleep(wait, signal);
    delay = Math.min(delay * 2, MAX_DELAY_MS);
  }
  return false;
}

/** Resolves after `ms`, or at once when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

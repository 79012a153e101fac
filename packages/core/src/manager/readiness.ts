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

/** Shortest pause between two probes of one container, in ms. */
export const PROBE_MIN_INTERVAL_MS = 20;
/** Longest pause between two probes during the first {@link PROBE_FAST_PHASE_MS}, in ms. */
export const PROBE_FAST_INTERVAL_MS = 50;
/** How long probing stays fast, in ms: most web tools answer within it. */
export const PROBE_FAST_PHASE_MS = 10_000;
/** Longest pause between two probes of one container, in ms. */
export const PROBE_MAX_INTERVAL_MS = 1000;
// Beyond its floor and ceiling, the pause grows by this share of the time probing has taken.
const PROBE_GROWTH = 1 / 25;

/**
 * The pause before the next probe, `elapsedMs` after probing began. For the first 10 s, 4% of
 * the time taken so far, between 20 and 50 ms: the proxy knows a tool answers within a few tens
 * of milliseconds (20 ms for one up within half a second). After that it backs off by the same
 * 4% to one probe a second, reached 34 s in: a slow tool (a JVM, a notebook) costs about 270
 * probes over its first 35 s, then one a second. A refused connection, the usual answer while a
 * tool boots, costs the engine nothing and the tool a SYN.
 */
export function probeInterval(elapsedMs: number): number {
  if (elapsedMs < PROBE_FAST_PHASE_MS) {
    return Math.min(PROBE_FAST_INTERVAL_MS, Math.max(PROBE_MIN_INTERVAL_MS, elapsedMs * PROBE_GROWTH));
  }
  return Math.min(
    PROBE_MAX_INTERVAL_MS,
    PROBE_FAST_INTERVAL_MS + (elapsedMs - PROBE_FAST_PHASE_MS) * PROBE_GROWTH,
  );
}

/**
 * GETs `path` through `client` until it answers 200 (true), the deadline passes (false) or
 * the signal aborts (false). Waits {@link probeInterval} between attempts, so a tool that comes
 * up quickly is seen quickly and a slow one is not hammered.
 */
export async function probeReadiness(
  client: UpstreamClient,
  path: string,
  options: ProbeOptions,
): Promise<boolean> {
  const { deadline, signal } = options;
  const began = Date.now();
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
    const now = Date.now();
    const wait = Math.min(probeInterval(now - began), deadline - now);
    if (wait > 0) await sleep(wait, signal);
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

/**
 * The client side of a cold start: GET a URL over a fresh connection until it answers 200, as
 * a tight loop (a short pause after each refusal, so a refused connection does not spin a core).
 * The same loop measures dde (through its proxy) and the `docker run` baseline (the container's
 * bridge address).
 */
import { request } from 'node:http';

/** Pause after a failed attempt, in ms: far below the figures measured, light on 2 cores. */
export const POLL_PAUSE_MS = 2;

/** Epoch ms with a fraction (comparable with the tool's own clock: containers share the host's). */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** The status of one GET over a new connection, or undefined when it failed to connect or answer. */
export function getStatus(url: string, timeoutMs = 2000): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode));
      res.once('error', () => resolve(undefined));
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(undefined));
    req.end();
  });
}

/** Polls `url` until it answers 200; resolves with the epoch ms of that answer and the attempts made. */
export async function pollUntil200(
  url: string,
  signal: AbortSignal,
): Promise<{ at: number; attempts: number }> {
  for (let attempts = 1; ; attempts++) {
    signal.throwIfAborted();
    const status = await getStatus(url);
    if (status === 200) return { at: nowMs(), attempts };
    await new Promise((resolve) => setTimeout(resolve, POLL_PAUSE_MS));
  }
}

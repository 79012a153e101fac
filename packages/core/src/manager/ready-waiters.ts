import { abortError, DdeError } from '../errors.ts';
import type { Route } from './route-table.ts';

/**
 * The `waitUntilReady` calls under way, by container name: each looks at its route again when
 * the manager says the route changed ({@link ReadyWaiters.wake}).
 */
export class ReadyWaiters {
  readonly #waiters = new Map<string, Set<() => void>>();
  readonly #current: (name: string) => Route | undefined;

  /** @param current The route of a name in the table now. */
  constructor(current: (name: string) => Route | undefined) {
    this.#current = current;
  }

  /**
   * Resolves with `route` once it is ready; rejects with `LAUNCH_FAILED` when it fails,
   * `NOT_FOUND` when it leaves the table, and the signal's error when it fires.
   */
  wait(name: string, route: Route, signal: AbortSignal | undefined): Promise<Route> {
    return new Promise<Route>((resolve, reject) => {
      // One waiter set per name, not a listener per waiter: a class launching at once would
      // otherwise make every phase change call every waiter (and warn past 10 listeners).
      const waiters = this.#waiters.get(name) ?? new Set<() => void>();
      this.#waiters.set(name, waiters);
      const cleanup = (): void => {
        waiters.delete(check);
        if (waiters.size === 0 && this.#waiters.get(name) === waiters) this.#waiters.delete(name);
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = (): void => {
        cleanup();
        reject(abortError(signal as AbortSignal, `Waiting for ${name} to be ready`));
      };
      const check = (): void => {
        if (this.#current(name) !== route) {
          cleanup();
          reject(new DdeError('NOT_FOUND', `Container ${name} went away before it was ready`));
        } else if (route.phase === 'ready') {
          cleanup();
          resolve(route);
        } else if (route.phase === 'failed') {
          cleanup();
          reject(
            new DdeError('LAUNCH_FAILED', `Container ${name} failed: ${route.failure?.message ?? 'unknown'}`),
          );
        }
      };
      waiters.add(check);
      signal?.addEventListener('abort', onAbort, { once: true });
      check();
    });
  }

  /** Lets the calls waiting for `name` look at its route again. */
  wake(name: string): void {
    const waiters = this.#waiters.get(name);
    if (waiters !== undefined) for (const check of [...waiters]) check();
  }
}

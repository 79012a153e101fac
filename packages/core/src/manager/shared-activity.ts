import type { Coordination } from '../coordination/coordination.ts';
import { isDdeError } from '../errors.ts';
import type { Logger } from '../lifecycle/logger.ts';
import type { RouteEntry } from './route-table.ts';

// How often this instance says which containers it serves; a mark outlives a dead instance by
// BUSY_TTL_MS at most.
const PUBLISH_EVERY_MS = 1000;
const BUSY_TTL_MS = 5000;
// A culler that dies mid-run frees the culling lock after this (a live one renews it).
const CULL_LOCK_TTL_MS = 5000;

/**
 * The manager's share of the coordination between instances: it publishes, about once a
 * second, the containers this instance serves (open WebSockets, exchanges in flight) so that no
 * other instance culls or evicts them, and runs culling under the namespace's culling lock.
 */
export class SharedActivity {
  readonly #coordination: Coordination;
  readonly #entries: () => Iterable<RouteEntry>;
  readonly #logger: Logger;
  #timer: NodeJS.Timeout | undefined;
  #cullPaused = false;

  constructor(coordination: Coordination, entries: () => Iterable<RouteEntry>, logger: Logger) {
    this.#coordination = coordination;
    this.#entries = entries;
    this.#logger = logger;
  }

  /** Starts publishing (after the coordination started). */
  start(): void {
    void this.publish().catch(() => {});
    this.#timer = setInterval(() => void this.publish().catch(() => {}), PUBLISH_EVERY_MS);
    this.#timer.unref();
  }

  /** Says now which containers this instance serves, and learns which others serve. */
  async publish(): Promise<void> {
    const busy: string[] = [];
    for (const entry of this.#entries()) {
      if (entry.openWebSockets > 0 || entry.inFlightRequests > 0) busy.push(entry.name);
    }
    await this.#coordination.publishBusy(busy, BUSY_TTL_MS);
  }

  /**
   * Runs `cull` under the culling lock, after learning what other instances serve. Resolves
   * `[]` when another instance is culling. When the shared state is unreachable, `periodic`
   * culling pauses (warned once per outage) while an explicit call rejects with `STATE_UNAVAILABLE`.
   */
  async cull<T>(cull: () => Promise<T[]>, periodic: boolean, signal: AbortSignal): Promise<T[]> {
    try {
      await this.publish();
      const outcome = await this.#coordination.withLock('cull', cull, {
        ttlMs: CULL_LOCK_TTL_MS,
        waitMs: 0,
        signal,
      });
      if (this.#cullPaused) {
        this.#cullPaused = false;
        this.#logger.info({}, 'culling resumes: the shared state is reachable again');
      }
      return outcome.ran ? outcome.value : [];
    } catch (error) {
      if (!periodic || !isDdeError(error) || error.code !== 'STATE_UNAVAILABLE') throw error;
      if (!this.#cullPaused) {
        this.#cullPaused = true;
        this.#logger.warn({ error }, 'culling paused: the shared state is unreachable');
      }
      return [];
    }
  }

  /** Stops publishing. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
  }
}

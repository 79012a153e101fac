import type { ActivityRecord, History, HistoryQuery } from '../history/history.ts';
import { type Logger, OccasionalWarning } from '../lifecycle/logger.ts';
import type { Route } from '../manager/route-table.ts';

/**
 * The proxy's view of a {@link History}: `record` never throws. It runs inside socket callbacks
 * on the hot path, where a throw would crash the process or stall a WebSocket session; a
 * failing history costs the records, never the traffic.
 */
export class SafeHistory implements History {
  readonly #history: History;
  readonly #failing: OccasionalWarning;

  constructor(history: History, logger: Logger) {
    this.#history = history;
    this.#failing = new OccasionalWarning(logger, 'cannot record activity');
  }

  /**
   * Records activity of a route, unless its container was removed meanwhile (an exchange or a
   * WebSocket session that outlived it): its history is forgotten, and a late record would
   * bring back a ring for every such name, or land in a later container's of the same name.
   */
  recordFor(route: Route, record: ActivityRecord): void {
    if (!route.removed) this.record(route.name, record);
  }

  record(containerName: string, record: ActivityRecord): void {
    try {
      this.#history.record(containerName, record);
    } catch (error) {
      this.#failing.note({ name: containerName, error });
    }
  }

  query(containerName: string, options?: HistoryQuery): Promise<ActivityRecord[]> {
    return this.#history.query(containerName, options);
  }

  lastActivity(containerName: string): Date | undefined {
    return this.#history.lastActivity(containerName);
  }

  remove(containerName: string): Promise<void> {
    return this.#history.remove(containerName);
  }

  close(): Promise<void> {
    return this.#history.close();
  }
}

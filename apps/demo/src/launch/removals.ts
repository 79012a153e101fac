/**
 * The containers that went away lately and why, from the container manager's `removed` events:
 * so that the dashboard can say "evicted to make room" or "idle for 30m" instead of a row
 * silently disappearing, and a link to a removed container can say what became of it.
 */
import type { ContainerManager, RemovalReason } from '@dde/core';
import { formatDuration } from '@dde/core';
import { findTool } from '../tools/catalog.ts';
import { DEMO_LABELS } from './launcher.ts';

/** One container that went away. */
export interface Removal {
  /** Container name. */
  readonly name: string;
  /** Its owner, when it had one. */
  readonly owner: string | undefined;
  /** Its tool's title. */
  readonly toolTitle: string | undefined;
  /** Why the manager removed it; undefined when the reason was not reported. */
  readonly reason: RemovalReason | undefined;
  /** The reason in a word or two (`LRU eviction`, `idle`, `killed`, …); undefined when not reported. */
  readonly label: string | undefined;
  /** When (ms since the epoch). */
  readonly at: number;
  /** What happened, as a sentence ending without a period: `was evicted …`. */
  readonly what: string;
}

/** What {@link RemovalLog} needs to word its sentences. */
export interface RemovalLogOptions {
  /** The idle timeout of culling, in ms, when set. */
  readonly idleTimeoutMs?: number | undefined;
  /** How many removals to keep. Default 50. */
  readonly keep?: number;
  /** Called with each removal as it is recorded (e.g. to log it). */
  readonly onRemoval?: (removal: Removal) => void;
  /**
   * Whether the removal of `name` belongs to a launch that failed before its container ran
   * (the engine refused to start it): the launch shows that failure, so the log leaves it out
   * rather than also calling it removed.
   */
  readonly launchFailed?: (name: string) => boolean;
}

const REASON_LABELS: Readonly<Record<RemovalReason, string>> = {
  lru: 'LRU eviction',
  idle: 'idle',
  'max-lifetime': 'max lifetime',
  manual: 'killed',
  failed: 'failed',
  label: 'purged',
};

/** Records the manager's removals (newest first), with owner and tool remembered from its routes. */
export class RemovalLog {
  readonly #removals: Removal[] = [];
  readonly #known = new Map<string, { owner: string | undefined; tool: string | undefined }>();
  readonly #idleTimeoutMs: number | undefined;
  readonly #keep: number;

  /** Follows `manager` from now on (create it before `manager.start()` to know adopted containers). */
  constructor(manager: ContainerManager, options: RemovalLogOptions = {}) {
    this.#idleTimeoutMs = options.idleTimeoutMs;
    this.#keep = options.keep ?? 50;
    // Only containers that existed count: a launch that failed before creating one has no
    // container to report gone (its please-wait page says why).
    manager.on('phase', ({ name, route }) => {
      if (route.info.id === '') return;
      this.#known.set(name, { owner: route.info.owner, tool: route.info.labels[DEMO_LABELS.tool] });
    });
    manager.on('removed', ({ name, reason }) => {
      const known = this.#known.get(name);
      if (known === undefined) return;
      this.#known.delete(name);
      if (options.launchFailed?.(name)) return;
      const removal: Removal = {
        name,
        owner: known.owner,
        toolTitle: known.tool === undefined ? undefined : findTool(known.tool)?.title,
        reason,
        label: reason === undefined ? undefined : REASON_LABELS[reason],
        at: Date.now(),
        what: this.#describe(reason),
      };
      this.#removals.unshift(removal);
      this.#removals.splice(this.#keep);
      options.onRemoval?.(removal);
    });
  }

  /** Removals newest first; `owner` limits them to one person's containers. */
  list(owner?: string): Removal[] {
    return owner === undefined
      ? [...this.#removals]
      : this.#removals.filter((removal) => removal.owner === owner);
  }

  /** The latest removal of `name`, if remembered. */
  latest(name: string): Removal | undefined {
    return this.#removals.find((removal) => removal.name === name);
  }

  #describe(reason: RemovalReason | undefined): string {
    switch (reason) {
      case 'lru':
        return 'was evicted to make room for a new launch (least recently used)';
      case 'idle':
        return this.#idleTimeoutMs === undefined
          ? 'was removed for being idle'
          : `was removed after ${formatDuration(this.#idleTimeoutMs)} without activity`;
      case 'max-lifetime':
        return 'reached its maximum lifetime and was removed';
      case 'manual':
        return 'was removed on request';
      case 'failed':
        return 'was removed because it failed';
      case 'label':
        return 'was removed by a purge';
      case undefined:
        return 'was removed';
    }
  }
}

import type { BackendEvent, ContainerBackend, ContainerInfo } from '../backend.ts';
import type { History } from '../history/history.ts';
import type { Logger } from '../lifecycle/logger.ts';
import type { DdeMetrics, RemovalReason } from '../lifecycle/metrics.ts';
import type { PhaseChange, RouteRemoved } from './manager-options.ts';
import { exited, PAUSED } from './manager-support.ts';
import { probeReadiness, sleep } from './readiness.ts';
import type { ContainerPhase, RouteFailure, RouteTable } from './route-table.ts';
import { RouteEntry } from './route-table.ts';

// The route-tracking half of ContainerManager: how the table follows the engine (events,
// inspections, listings) and readiness probes. The manager decides; this keeps the table true.

const REMEMBERED_DESTROYED_IDS = 1024;
const MAX_NEGATIVE_ENTRIES = 10_000;
// Without pushed events, a container that exits while probed is noticed by inspecting it.
const PROBE_REFRESH_EVERY_MS = 2000;

/** What a {@link RouteTracker} needs of its manager. */
export interface RouteTrackerOptions {
  readonly backend: ContainerBackend;
  readonly table: RouteTable;
  readonly history: History;
  readonly logger: Logger;
  readonly metrics: DdeMetrics | undefined;
  /** Aborts when the manager closes. */
  readonly closing: AbortSignal;
  /** How long "no such container" is remembered, in ms (0: not at all). */
  readonly negativeCacheMs: number;
  /** Why each removal under way happens (the manager's own removals). */
  readonly removing: ReadonlyMap<string, RemovalReason>;
  /** A route changed phase or became known. */
  readonly onPhase: (change: PhaseChange) => void;
  /** A route left the table. */
  readonly onRemoved: (removed: RouteRemoved) => void;
}

/**
 * Keeps the route table in line with the backend: applies events and inspections, rebuilds it
 * from listings, probes readiness, and remembers names known missing and containers known gone
 * (so that a late event or listing does not bring a route back).
 */
export class RouteTracker {
  readonly #options: RouteTrackerOptions;
  readonly #table: RouteTable;
  readonly #closing: AbortSignal;
  readonly #negative = new Map<string, number>();
  readonly #refreshing = new Map<string, { again: boolean }>();
  readonly #destroyedIds = new Set<string>();
  #reconciling: Promise<void> | undefined;

  constructor(options: RouteTrackerOptions) {
    this.#options = options;
    this.#table = options.table;
    this.#closing = options.closing;
  }

  /**
   * Rebuilds the table from `backend.list()`: adds and updates every managed container and
   * drops routes whose container is gone (launches under way excepted). Concurrent calls share
   * one listing.
   */
  reconcile(): Promise<void> {
    this.#reconciling ??= (async () => {
      try {
        const infos = await this.#options.backend.list({ signal: this.#closing });
        if (this.#closing.aborted) return;
        const seen = new Set<string>();
        for (const info of infos) {
          seen.add(info.name);
          this.apply(info);
        }
        for (const entry of [...this.#table.entries()]) {
          if (!seen.has(entry.name) && !entry.launching && !this.#refreshing.has(entry.name)) {
            this.removeEntry(entry);
          }
        }
        const now = Date.now();
        for (const [name, until] of this.#negative) if (until <= now) this.#negative.delete(name);
      } catch (error) {
        if (!this.#closing.aborted) this.#options.logger.warn({ error }, 'reconciliation failed');
        throw error;
      } finally {
        this.#reconciling = undefined;
      }
    })();
    return this.#reconciling;
  }

  /** Follows the backend's events until the manager closes, reconnecting with backoff. */
  async watch(): Promise<void> {
    const signal = this.#closing;
    let backoff = 500;
    while (!signal.aborted) {
      try {
        for await (const event of this.#options.backend.events({ signal })) {
          backoff = 500;
          this.#onEvent(event);
        }
      } catch (error) {
        if (signal.aborted) return;
        this.#options.logger.warn({ error }, 'backend event stream failed; reconnecting');
      }
      if (signal.aborted) return;
      await sleep(backoff, signal);
      backoff = Math.min(backoff * 2, 30_000);
      // Events may have been missed while the stream was down.
      void this.reconcile().catch(() => {});
    }
  }

  #onEvent(event: BackendEvent): void {
    if (event.type === 'resync') {
      void this.reconcile().catch(() => {});
      return;
    }
    if (event.type === 'health') return;
    if ('network' in event) {
      // The address may have come or gone: ask the engine now rather than at the next
      // reconciliation (the event names the container by id only).
      for (const entry of this.#table.entries()) {
        if (entry.info.id !== event.id) continue;
        entry.unreadyAt = undefined;
        this.refresh(entry.name);
      }
      return;
    }
    const entry = this.#table.get(event.name);
    if (event.type === 'destroyed') {
      this.rememberDestroyed(event.id);
      if (entry && !entry.launching && (entry.info.id === event.id || entry.info.id === ''))
        this.removeEntry(entry);
      return;
    }
    this.#negative.delete(event.name);
    // A container this manager is removing dies on purpose: it did not fail.
    const current = entry?.info.id === event.id ? entry : undefined;
    if (current === undefined) {
      // Not the container the route knows (yet): the inspection below tells.
    } else if (event.type === 'died' && !this.#options.removing.has(event.name)) {
      this.fail(current, exited(event.exitCode));
    } else if (event.type === 'paused') {
      // Cut now: a frozen container holds its clients' connections open without a word.
      this.fail(current, PAUSED);
    } else if (event.type === 'started' || event.type === 'unpaused') {
      // Running again: a readiness verdict of its previous run no longer holds.
      current.unreadyAt = undefined;
    }
    this.refresh(event.name);
  }

  /** Inspects the container again (single flight per name; re-runs if asked again meanwhile). */
  refresh(name: string): void {
    const running = this.#refreshing.get(name);
    if (running) {
      running.again = true;
      return;
    }
    const state = { again: true };
    this.#refreshing.set(name, state);
    void (async () => {
      try {
        while (state.again && !this.#closing.aborted) {
          state.again = false;
          const info = await this.#options.backend.inspect(name, { signal: this.#closing });
          if (this.#closing.aborted) return;
          if (info) this.apply(info);
          else {
            const entry = this.#table.get(name);
            if (entry && !entry.launching) this.removeEntry(entry);
          }
        }
      } catch (error) {
        if (!this.#closing.aborted) this.#options.logger.warn({ name, error }, 'cannot inspect container');
      } finally {
        this.#refreshing.delete(name);
      }
    })();
  }

  /** Brings the route of `info.name` in line with what the backend says. */
  apply(info: ContainerInfo): RouteEntry | undefined {
    if (this.#destroyedIds.has(info.id) || info.namespace !== this.#options.backend.namespace)
      return undefined;
    if (this.#closing.aborted) return undefined;
    if (info.state === 'removing') {
      // On its way out for good: several refreshes may see it so (its death, its network
      // leaving); none may bring its route back only to drop it again.
      this.rememberDestroyed(info.id);
      const going = this.#table.get(info.name);
      if (going !== undefined && !going.launching && going.info.id === info.id) this.removeEntry(going);
      return undefined;
    }
    this.#negative.delete(info.name);
    let entry = this.#table.get(info.name);
    if (entry === undefined) {
      entry = this.#table.add(new RouteEntry(info, 'starting'));
    } else if (entry.info.id !== '' && entry.info.id !== info.id) {
      // Another container took the name: start over.
      entry.probe?.abort();
      entry.probe = undefined;
      entry.failure = undefined;
      this.#table.disconnect(entry);
      entry.phase = 'starting';
    }
    entry.info = info;
    switch (info.state) {
      case 'running':
        if (info.upstream === undefined) {
          this.fail(entry, {
            reason: 'no-upstream',
            exitCode: undefined,
            message: 'the backend reports no address to reach the container',
          });
        } else if (
          entry.phase === 'failed' &&
          entry.failure?.reason === 'readiness-timeout' &&
          entry.unreadyAt?.host === info.upstream.host &&
          entry.unreadyAt.port === info.upstream.port
        ) {
          // Keep the verdict for this container at this address: probing it again on every
          // reconciliation would make it flap between failed and probing.
        } else if (
          (entry.phase === 'probing' || entry.phase === 'ready') &&
          entry.pool !== undefined &&
          entry.upstream?.host === info.upstream.host &&
          entry.upstream.port === info.upstream.port
        ) {
          // Unchanged.
        } else {
          this.#startProbe(entry, info);
        }
        break;
      case 'created':
      case 'restarting':
      case 'unknown':
        this.#table.disconnect(entry);
        if (!entry.launching) this.setPhase(entry, 'starting');
        break;
      case 'exited':
      case 'dead':
        this.fail(entry, exited(info.exitCode, info.exitReason));
        break;
      case 'paused':
        this.fail(entry, PAUSED);
        break;
    }
    if (!entry.announced) this.emitPhase(entry);
    return entry;
  }

  #startProbe(entry: RouteEntry, info: ContainerInfo): void {
    entry.probe?.abort();
    this.#table.connect(entry, info.upstream as NonNullable<ContainerInfo['upstream']>);
    this.setPhase(entry, 'probing');
    const probe = new AbortController();
    entry.probe = probe;
    const pool = entry.pool;
    if (pool === undefined) return;
    const { path, timeoutMs } = info.readiness;
    let lastRefresh = Date.now();
    void probeReadiness(pool, path, {
      deadline: Date.now() + timeoutMs,
      signal: AbortSignal.any([probe.signal, this.#closing]),
      onAttempt: () => {
        if (
          !this.#options.backend.capabilities.pushesEvents &&
          Date.now() - lastRefresh >= PROBE_REFRESH_EVERY_MS
        ) {
          lastRefresh = Date.now();
          this.refresh(entry.name);
        }
      },
    }).then((ready) => {
      if (entry.probe !== probe || probe.signal.aborted) return;
      entry.probe = undefined;
      if (ready) {
        this.setPhase(entry, 'ready');
        this.#options.logger.info({ name: entry.name }, 'container ready');
      } else {
        entry.unreadyAt = entry.upstream;
        this.fail(entry, {
          reason: 'readiness-timeout',
          exitCode: undefined,
          message: `GET ${path} did not answer 200 within ${Math.round(timeoutMs / 1000)} s`,
        });
      }
    });
  }

  /** Marks the route failed (stops probing, ends its connections). */
  fail(entry: RouteEntry, failure: RouteFailure): void {
    entry.probe?.abort();
    entry.probe = undefined;
    this.#table.disconnect(entry);
    const changed = entry.phase !== 'failed' || entry.failure?.reason !== failure.reason;
    entry.failure = failure;
    if (changed) {
      this.setPhase(entry, 'failed', true);
      this.#options.logger.warn({ name: entry.name, failure }, 'container failed');
    }
  }

  /** Moves the route to `phase` (timing the phase it leaves) and announces it. */
  setPhase(entry: RouteEntry, phase: ContainerPhase, force = false): void {
    if (entry.phase === phase && !force) return;
    const previous = entry.phase;
    const now = Date.now();
    const metrics = this.#options.metrics;
    if (metrics && previous !== 'ready' && previous !== 'failed') {
      metrics.phaseDuration(previous, (now - entry.phaseSince) / 1000);
    }
    entry.phase = phase;
    entry.phaseSince = now;
    if (phase !== 'failed') entry.failure = undefined;
    this.emitPhase(entry, previous);
  }

  /** Announces the route's phase (the first time with no previous phase). */
  emitPhase(entry: RouteEntry, previous?: ContainerPhase): void {
    const announced = entry.announced;
    entry.announced = true;
    this.#options.onPhase({
      name: entry.name,
      phase: entry.phase,
      previous: announced ? previous : undefined,
      route: entry,
    });
  }

  /**
   * Takes a container out of the table and forgets its history, however it went (removed here,
   * `docker rm`, another instance): otherwise every name ever seen would keep its records.
   * Resolves once the history has forgotten it.
   */
  removeEntry(entry: RouteEntry): Promise<void> {
    if (this.#table.get(entry.name) !== entry) return Promise.resolve();
    entry.removed = true;
    this.#table.delete(entry);
    const forgotten = this.forgetHistory(entry.name);
    this.#options.onRemoved({ name: entry.name, reason: this.#options.removing.get(entry.name) });
    return forgotten;
  }

  /** Forgets a removed container's history; never rejects (a failing history keeps its records). */
  async forgetHistory(name: string): Promise<void> {
    try {
      await this.#options.history.remove(name);
    } catch (error) {
      this.#options.logger.warn({ name, error }, 'cannot forget the activity history of a removed container');
    }
  }

  /** Whether a lookup found no container of that name a moment ago (the answer is kept briefly). */
  knownMissing(name: string): boolean {
    const until = this.#negative.get(name);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.#negative.delete(name);
    return false;
  }

  /** Remembers that no container of that name exists, for `negativeCacheMs`. */
  rememberMissing(name: string): void {
    if (this.#options.negativeCacheMs === 0) return;
    if (this.#negative.size >= MAX_NEGATIVE_ENTRIES) this.#negative.clear();
    this.#negative.set(name, Date.now() + this.#options.negativeCacheMs);
  }

  /** Forgets that the name was missing (a launch of it is under way). */
  forgetMissing(name: string): void {
    this.#negative.delete(name);
  }

  /** Remembers a container as gone for good: no late event or listing brings its route back. */
  rememberDestroyed(id: string): void {
    if (id === '') return;
    this.#destroyedIds.add(id);
    if (this.#destroyedIds.size > REMEMBERED_DESTROYED_IDS) {
      const oldest = this.#destroyedIds.values().next().value;
      if (oldest !== undefined) this.#destroyedIds.delete(oldest);
    }
  }

  /** Whether the container with that id is known gone. */
  destroyed(id: string): boolean {
    return this.#destroyedIds.has(id);
  }
}

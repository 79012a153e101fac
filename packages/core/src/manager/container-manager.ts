import { EventEmitter } from 'node:events';
import type {
  ContainerBackend,
  ContainerInfo,
  LaunchOptions,
  LogEntry,
  LogOptions,
  OperationOptions,
} from '../backend.ts';
import type { Coordination } from '../coordination/coordination.ts';
import { MemoryCoordination } from '../coordination/memory-coordination.ts';
import { DdeError, invalidOption, isDdeError, throwIfAborted } from '../errors.ts';
import type { History } from '../history/history.ts';
import { MemoryHistory } from '../history/memory-history.ts';
import { refuseUnknownFields } from '../known-fields.ts';
import { LABELS } from '../labels.ts';
import { evictionOrder } from '../lifecycle/capacity.ts';
import type { CullDecision } from '../lifecycle/culling.ts';
import { selectForCulling } from '../lifecycle/culling.ts';
import type { Logger } from '../lifecycle/logger.ts';
import { OccasionalWarning, silentLogger } from '../lifecycle/logger.ts';
import type { DdeMetrics, RemovalReason } from '../lifecycle/metrics.ts';
import { planLaunch } from '../plan.ts';
import type { ContainerSpec } from '../spec.ts';
import { isValidName } from '../spec.ts';
import { Admission } from './admission.ts';
import {
  type ContainerManagerEvents,
  type ContainerManagerOptions,
  type LookupOptions,
  MANAGER_FIELDS,
  type PurgeOptions,
  type RemoveOptions,
  type WaitOptions,
} from './manager-options.ts';
import { abortable, conflict, nonNegative, notFound } from './manager-support.ts';
import type { CapacityOptions, CapacitySnapshot, CullingOptions, LimitOptions } from './policies.ts';
import {
  capacityCandidates,
  cullCandidates,
  DEFAULT_MAX_QUEUED_STARTS,
  DEFAULT_MAX_START_WAIT_MS,
  lastActiveMs,
  reservedMb,
  validatePolicies,
} from './policies.ts';

export { declaredTools } from './declared-tools.ts';

import { type CullContext, cullSelected } from './cull-selected.ts';
import { Launcher } from './launcher.ts';
import { QueueTickets } from './queue-tickets.ts';
import { provisionalInfo } from './queued-route.ts';
import { ReadyWaiters } from './ready-waiters.ts';
import type { Route } from './route-table.ts';
import { RouteEntry, RouteTable } from './route-table.ts';
import { RouteTracker } from './route-tracker.ts';
import { SharedActivity } from './shared-activity.ts';
import { StartQueue } from './start-queue.ts';

export type {
  ContainerManagerEvents,
  ContainerManagerOptions,
  LookupOptions,
  PhaseChange,
  PurgeOptions,
  RemoveOptions,
  RouteRemoved,
  WaitOptions,
} from './manager-options.ts';

// A launch waiting for a start slot tries again this often by itself (slots that free on
// another instance without this one seeing a container change: a failed launch, an expiry).
const START_RETRY_MS = 1000;

/**
 * Keeps the route table: which managed containers exist, where they listen and whether they
 * are ready. Fills it from `backend.list()` at {@link ContainerManager.start}, keeps it warm
 * from backend events and periodic reconciliation, and probes readiness, so that the proxy's
 * {@link ContainerManager.get} answers without any engine call.
 *
 * @example
 * ```ts
 * const manager = new ContainerManager({ backend: new DockerBackend() });
 * await manager.start();
 * await manager.launch({ name: 'alice-viewer', image: 'nginx:1.27-alpine', port: 80 });
 * await manager.waitUntilReady('alice-viewer', { signal: AbortSignal.timeout(60_000) });
 * ```
 */
export class ContainerManager extends EventEmitter<ContainerManagerEvents> {
  /** Where containers run. */
  readonly backend: ContainerBackend;
  /** Where the proxy records activity. */
  readonly history: History;
  /** What the instances sharing the namespace decide together. */
  readonly coordination: Coordination;
  readonly #admission: Admission;
  readonly #starts: StartQueue;
  readonly #tickets: QueueTickets;
  readonly #shared: SharedActivity;
  readonly #table: RouteTable;
  readonly #routes: RouteTracker;
  readonly #launcher: Launcher;
  readonly #logger: Logger;
  readonly #reconcileIntervalMs: number;
  readonly #lookupTimeoutMs: number;
  readonly #maxConcurrentLookups: number;
  /** Said when lookups are refused for want of a slot. */
  readonly #lookupsRefused: OccasionalWarning;
  readonly #closeBackend: boolean;
  readonly #closing = new AbortController();
  readonly #lookups = new Map<string, Promise<RouteEntry | undefined>>();
  /** The pending `waitUntilReady` calls. */
  readonly #ready = new ReadyWaiters((name) => this.#table.get(name));
  /** Prometheus metrics, when configured. */
  readonly metrics: DdeMetrics | undefined;
  readonly #capacity: CapacityOptions | undefined;
  readonly #limits: LimitOptions | undefined;
  readonly #culling: CullingOptions | undefined;
  readonly #onDemand: ((name: string) => ContainerSpec | undefined) | undefined;
  #cullTimer: NodeJS.Timeout | undefined;
  // Why each removal under way happens: the engine's `destroyed` event may beat `remove()`.
  readonly #removing = new Map<string, RemovalReason>();
  #started: Promise<void> | undefined;
  #watching: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: ContainerManagerOptions) {
    super();
    if (typeof options?.backend?.inspect !== 'function') {
      throw invalidOption('backend', 'is required: a ContainerBackend such as new DockerBackend()');
    }
    refuseUnknownFields(options, MANAGER_FIELDS, 'ContainerManager', invalidOption);
    this.backend = options.backend;
    this.history = options.history ?? new MemoryHistory();
    this.#table = new RouteTable(options.pool);
    this.#logger = options.logger ?? silentLogger;
    this.#lookupsRefused = new OccasionalWarning(
      this.#logger,
      'too many lookups of unknown container names at once: refusing more for now',
    );
    this.#reconcileIntervalMs = nonNegative('reconcileIntervalMs', options.reconcileIntervalMs ?? 30_000);
    this.#lookupTimeoutMs = nonNegative('lookupTimeoutMs', options.lookupTimeoutMs ?? 10_000);
    this.#maxConcurrentLookups = options.maxConcurrentLookups ?? 32;
    if (!Number.isInteger(this.#maxConcurrentLookups) || this.#maxConcurrentLookups < 1) {
      throw invalidOption(
        'maxConcurrentLookups',
        `must be a whole number >= 1, got ${String(options.maxConcurrentLookups)}`,
      );
    }
    this.#closeBackend = options.closeBackend ?? true;
    validatePolicies(options);
    this.#capacity = options.capacity;
    this.#limits = options.limits;
    this.#culling = options.culling;
    this.#onDemand = options.onDemand;
    this.coordination = options.coordination ?? new MemoryCoordination();
    this.#tickets = new QueueTickets(this.coordination, this.#logger);
    this.#admission = new Admission({
      coordination: this.coordination,
      history: this.history,
      logger: this.#logger,
      capacity: this.#capacity,
      limits: this.#limits,
      entries: () => this.#table.entries(),
      remove: (name, removal) => this.remove(name, removal),
      closing: this.#closing.signal,
      refreshBusy: () => this.#shared.publish(),
      tickets: this.#tickets,
    });
    this.#starts = new StartQueue({
      maxLength: this.#limits?.maxQueuedStarts ?? DEFAULT_MAX_QUEUED_STARTS,
      maxWaitMs: this.#limits?.maxStartWaitMs ?? DEFAULT_MAX_START_WAIT_MS,
      retryMs: START_RETRY_MS,
      limit: this.#limits?.maxConcurrentStarts ?? 0,
      // Launches already waiting outlast a shared store's outage (within maxStartWaitMs).
      passing: (error) => isDdeError(error) && error.code === 'STATE_UNAVAILABLE',
      onTick: () => this.#tickets.renew(),
    });
    this.#shared = new SharedActivity(this.coordination, () => this.#table.entries(), this.#logger);
    this.metrics = options.metrics;
    this.#routes = new RouteTracker({
      backend: this.backend,
      table: this.#table,
      history: this.history,
      logger: this.#logger,
      metrics: this.metrics,
      closing: this.#closing.signal,
      negativeCacheMs: nonNegative('negativeCacheMs', options.negativeCacheMs ?? 1000),
      removing: this.#removing,
      onPhase: (change) => {
        this.emit('phase', change);
        this.#ready.wake(change.name);
        // A start slot may have freed.
        if (change.phase === 'ready' || change.phase === 'failed') this.#starts.wake();
      },
      onRemoved: (removed) => {
        this.emit('removed', removed);
        this.#ready.wake(removed.name);
        this.#starts.wake();
      },
    });
    this.#launcher = new Launcher({
      backend: this.backend,
      table: this.#table,
      routes: this.#routes,
      admission: this.#admission,
      starts: this.#starts,
      tickets: this.#tickets,
      logger: this.#logger,
      metrics: this.metrics,
      closing: this.#closing.signal,
    });
    this.metrics?.countContainersWith(() => {
      const counts: Record<string, number> = {};
      for (const entry of this.#table.entries()) counts[entry.phase] = (counts[entry.phase] ?? 0) + 1;
      return counts;
    });
  }

  /**
   * Subscribes to backend events, adopts the namespace's existing containers (probing those
   * that run) and starts periodic reconciliation. Idempotent. Rejects when the backend cannot
   * list its containers (e.g. `ENGINE_UNAVAILABLE`) or the shared state cannot be reached
   * (`STATE_UNAVAILABLE`).
   */
  start(): Promise<void> {
    this.#started ??= (async () => {
      throwIfAborted(this.#closing.signal, 'Starting the container manager');
      await this.coordination.start();
      this.#shared.start();
      this.#watching = this.#routes.watch();
      await this.reconcile();
      if (this.#reconcileIntervalMs > 0) {
        this.#timer = setInterval(() => void this.reconcile().catch(() => {}), this.#reconcileIntervalMs);
        this.#timer.unref();
      }
      const culling = this.#culling;
      if (culling && (culling.idleTimeoutMs !== undefined || culling.maxLifetimeMs !== undefined)) {
        this.#cullTimer = setInterval(
          () => void this.#cull({}, true).catch(() => {}),
          culling.intervalMs ?? 30_000,
        );
        this.#cullTimer.unref();
      }
    })();
    return this.#started;
  }

  /**
   * The route of a container, from the table: no engine call, no allocation. Undefined when
   * the table does not know the name (see {@link ContainerManager.lookup}).
   */
  get(name: string): Route | undefined {
    return this.#table.get(name);
  }

  /**
   * The route of a container, asking the backend once when the table does not know it.
   * Concurrent lookups of one name share one `inspect`; a miss is remembered briefly. A name
   * the `onDemand` option declares starts a container and resolves with its route while it
   * starts (rejecting with `LIMIT_EXCEEDED` or `CAPACITY_EXCEEDED` when it may not start),
   * unless `options.startOnDemand` is false: then it resolves undefined, and
   * {@link ContainerManager.declared} tells what would start.
   */
  lookup(name: string, options: LookupOptions = {}): Promise<Route | undefined> {
    const known = this.#table.get(name);
    if (known) return Promise.resolve(known);
    if (!isValidName(name) || this.#closing.signal.aborted) return Promise.resolve(undefined);
    const launching = this.#launcher.pending(name);
    if (launching) return launching.routed;
    if (this.#routes.knownMissing(name)) return Promise.resolve(undefined);
    let pending = this.#lookups.get(name);
    if (pending === undefined) {
      if (this.#lookups.size >= this.#maxConcurrentLookups) {
        this.#lookupsRefused.note({ maxConcurrentLookups: this.#maxConcurrentLookups });
        return Promise.reject(
          new DdeError(
            'LIMIT_EXCEEDED',
            `Too many lookups of unknown container names at once (maxConcurrentLookups ${this.#maxConcurrentLookups}): try again shortly`,
          ),
        );
      }
      const signal = AbortSignal.any([this.#closing.signal, AbortSignal.timeout(this.#lookupTimeoutMs)]);
      pending = this.backend
        .inspect(name, { signal })
        .then((info) => {
          if (info !== undefined) return this.#routes.apply(info);
          if (this.#onDemand?.(name) !== undefined) return undefined; // not missing: declared
          this.#routes.rememberMissing(name);
          return undefined;
        })
        .finally(() => this.#lookups.delete(name));
      this.#lookups.set(name, pending);
    }
    if (options.startOnDemand === false) return pending;
    return pending.then((found) => {
      if (found !== undefined) return found;
      const spec = this.#onDemand?.(name);
      return spec === undefined ? undefined : this.#launcher.startOnDemand(name, spec);
    });
  }

  /**
   * The provisional route of the container the `onDemand` option declares for `name`, as it
   * would be before starting (phase `creating`, not in the table); undefined when none is
   * declared. For deciding whether a request may start it (the proxy's `authorize` hook sees
   * it) before anything is launched or evicted.
   *
   * @throws {@link DdeError} `INVALID_SPEC` when the declared spec is invalid.
   */
  declared(name: string): Route | undefined {
    if (!isValidName(name)) return undefined;
    const spec = this.#onDemand?.(name);
    if (spec === undefined) return undefined;
    const plan = planLaunch({ ...spec, name }, this.backend);
    return new RouteEntry(provisionalInfo(plan, this.backend.namespace), 'creating');
  }

  /** Every route in the table (no engine call). */
  list(): Route[] {
    return [...this.#table.entries()];
  }

  /**
   * Launches a container through the backend and tracks it: its route shows the launch steps
   * (`pulling`, `creating`, `starting`), then `probing` and `ready` (or `failed`). Resolves once
   * the container runs, before it is ready: see {@link ContainerManager.waitUntilReady}.
   *
   * Single-flight: launching a spec that is already launching, or already running under this
   * name, joins that container; a different spec under a taken name is a `CONFLICT`. Under a
   * memory budget the least recently used containers are evicted first; when that cannot make
   * room it fails with `CAPACITY_EXCEEDED` (or starts over budget, if so configured). Count
   * limits fail with `LIMIT_EXCEEDED`, but for `limits.maxConcurrentStarts`: beyond it the launch
   * waits for a start slot in phase `queued`, first come first served (failing with
   * `LIMIT_EXCEEDED` past `limits.maxQueuedStarts` or `limits.maxStartWaitMs`; with `ABORTED`
   * when removed or the manager closes meanwhile). An invalid spec throws before anything is
   * created.
   */
  async launch(spec: ContainerSpec, options: LaunchOptions = {}): Promise<ContainerInfo> {
    const plan = planLaunch(spec, this.backend);
    const name = plan.spec.name;
    const hash = plan.labels[LABELS.specHash] ?? '';
    throwIfAborted(options.signal, `Launching ${name}`);
    throwIfAborted(this.#closing.signal, `Launching ${name}`);
    const pending = this.#launcher.pending(name);
    if (pending !== undefined) {
      if (pending.specHash !== hash) throw conflict(name, 'is being launched with another spec');
      return abortable(pending.done, options.signal, `Launching ${name}`);
    }
    const existing = this.#table.get(name);
    if (existing !== undefined && existing.info.id !== '') {
      if (existing.info.specHash === hash && existing.phase !== 'failed') return existing.info;
      throw conflict(
        name,
        existing.phase === 'failed' ? 'exists and has failed: remove it first' : 'runs another spec',
      );
    }
    return this.#launcher.begin(plan, spec, options).done;
  }

  /**
   * Whether a launch of `spec` would be admitted now, without launching or evicting anything:
   * throws what {@link ContainerManager.launch} would (`INVALID_SPEC`, `LIMIT_EXCEEDED`,
   * `CAPACITY_EXCEEDED`) and otherwise returns the containers LRU eviction would remove. Weighs
   * this instance's routes only: launches other instances are admitting are not counted. A full
   * `limits.maxConcurrentStarts` is no refusal: the launch would wait for a start slot.
   */
  checkAdmission(spec: ContainerSpec): string[] {
    return [...(this.#admission.check(planLaunch(spec, this.backend))?.evict ?? [])];
  }

  /**
   * Resolves with the route once the container is ready. Rejects with `LAUNCH_FAILED` when it
   * fails (exit code in the message), `NOT_FOUND` when it does not exist or goes away, and
   * `TIMEOUT`/`ABORTED` when the signal fires. A launch under way is awaited first.
   */
  async waitUntilReady(name: string, options: WaitOptions = {}): Promise<Route> {
    const { signal } = options;
    throwIfAborted(signal, `Waiting for ${name}`);
    const launch = this.#launcher.pending(name);
    if (launch) await abortable(launch.done, signal, `Waiting for ${name}`);
    const route =
      this.#table.get(name) ?? (await abortable(this.lookup(name), signal, `Waiting for ${name}`));
    if (route === undefined) throw notFound(name);
    return this.#ready.wait(name, route, signal);
  }

  /**
   * Removes the container (whatever its state, with its volumes) and forgets its history.
   * Returns false when there was no such managed container.
   */
  async remove(name: string, options: RemoveOptions = {}): Promise<boolean> {
    const reason = options.reason ?? 'manual';
    const entry = this.#table.get(name);
    // A launch still waiting for a start slot leaves the queue without starting.
    const dequeued = this.#starts.cancel(
      name,
      new DdeError(
        'ABORTED',
        `Launching ${name} was cancelled: the container was removed while it waited to start`,
      ),
    );
    entry?.probe?.abort();
    // Its exchanges and WebSocket sessions end now, not when the engine has stopped it.
    if (entry !== undefined && !entry.launching) this.#table.disconnect(entry);
    this.#removing.set(name, reason);
    let removed = dequeued;
    let forgotten: Promise<void> | undefined;
    try {
      removed = (await this.backend.remove(name, options)) || removed;
    } finally {
      const current = this.#table.get(name);
      if (current && !current.launching) {
        this.#routes.rememberDestroyed(current.info.id);
        forgotten = this.#routes.removeEntry(current);
      }
      this.#removing.delete(name);
      this.#admission.removed(name);
    }
    // Also when the table did not know it: whatever was recorded under the name goes.
    await (forgotten ?? this.#routes.forgetHistory(name));
    if (removed || entry !== undefined) this.metrics?.removed(reason);
    this.#logger.info({ name, removed, reason }, 'removed container');
    return removed;
  }

  /**
   * Removes the containers the culling policy selects now (idle for `idleTimeoutMs`, or older
   * than `maxLifetimeMs`; an open WebSocket or an HTTP exchange in flight is activity). Runs
   * periodically after {@link ContainerManager.start} when culling is configured; returns what
   * it removed.
   */
  async cull(options: OperationOptions = {}): Promise<CullDecision[]> {
    return this.#cull(options, false);
  }

  /** Culls under the namespace's culling lock (one instance at a time); see {@link SharedActivity.cull}. */
  #cull(options: OperationOptions, periodic: boolean): Promise<CullDecision[]> {
    const signal = options.signal
      ? AbortSignal.any([options.signal, this.#closing.signal])
      : this.#closing.signal;
    return this.#shared.cull(
      () => cullSelected(this.#cullContext, this.#culling ?? {}, false, options),
      periodic,
      signal,
    );
  }

  /**
   * Removes every container without activity for `idleMs` (one that never had any counts from
   * its start, even if it never became ready; an open WebSocket or an HTTP exchange in flight is
   * activity). Returns the names removed, or with `dryRun` the names it would remove now,
   * removing nothing.
   */
  async purgeInactive(idleMs: number, options: PurgeOptions = {}): Promise<string[]> {
    await this.reconcile();
    if (options.dryRun === true) {
      const candidates = cullCandidates(this.#table.entries(), this.history, true, this.#logger);
      return selectForCulling(candidates, { idleTimeoutMs: idleMs }, Date.now())
        .map((decision) => decision.name)
        .sort();
    }
    const removed = await cullSelected(this.#cullContext, { idleTimeoutMs: idleMs }, true, options, true);
    return removed.map((decision) => decision.name);
  }

  readonly #busyElsewhere = (name: string): boolean => this.coordination.busyElsewhere(name);

  /** What culling needs of the manager. */
  readonly #cullContext: CullContext = {
    entries: () => this.#table.entries(),
    get: (name) => this.#table.get(name),
    history: () => this.history,
    logger: () => this.#logger,
    busyElsewhere: this.#busyElsewhere,
    removing: (name) => this.#removing.has(name),
    remove: (name, options) => this.remove(name, options),
  };

  /** Removes every container carrying the label `key=value`. Returns the names removed. */
  async purgeByLabel(key: string, value: string, options: OperationOptions = {}): Promise<string[]> {
    await this.reconcile();
    const names = this.list()
      .filter((route) => route.info.labels[key] === value)
      .map((route) => route.name);
    return this.#removeEach(names, 'label', options);
  }

  /** Removes every container of the namespace (for scripts and shutdown). Returns the names removed. */
  async removeAll(options: OperationOptions = {}): Promise<string[]> {
    await this.reconcile();
    return this.#removeEach(
      this.list().map((route) => route.name),
      'manual',
      options,
    );
  }

  async #removeEach(
    names: readonly string[],
    reason: RemovalReason,
    options: OperationOptions,
  ): Promise<string[]> {
    const removed: string[] = [];
    for (const name of [...names].sort()) {
      throwIfAborted(options.signal, 'Purging containers');
      if (await this.remove(name, { ...options, reason })) removed.push(name);
    }
    return removed;
  }

  /** The memory budget in use and what LRU eviction would remove next (no engine call). */
  capacity(): CapacitySnapshot {
    let usedMb = 0;
    for (const entry of this.#table.entries()) usedMb += reservedMb(entry);
    return {
      budgetMb: this.#capacity?.memoryBudgetMb,
      usedMb,
      evictionOrder: evictionOrder(
        capacityCandidates(this.#table.entries(), this.history, '', this.#logger, this.#busyElsewhere),
      ),
    };
  }

  /** Where the manager logs (the `logger` option); the proxy logs there too. */
  get logger(): Logger {
    return this.#logger;
  }

  /** When the container last saw activity (or started, if later), or undefined if unknown. */
  lastActivity(name: string): Date | undefined {
    const entry = this.#table.get(name);
    return entry === undefined ? undefined : new Date(lastActiveMs(entry, this.history, this.#logger));
  }

  /** The container's output (see {@link ContainerBackend.logs}). */
  logs(name: string, options?: LogOptions): Promise<LogEntry[]> {
    return this.backend.logs(name, options);
  }

  /**
   * Counts an open WebSocket session on the route (a live session is activity: culling and
   * eviction skip such containers). Returns the function that counts it closed.
   */
  openedWebSocket(name: string): () => void {
    const entry = this.#table.get(name);
    if (entry === undefined) return () => {};
    entry.openWebSockets++;
    this.metrics?.websocketOpened();
    let open = true;
    return () => {
      if (!open) return;
      open = false;
      entry.openWebSockets--;
      this.metrics?.websocketClosed();
    };
  }

  /**
   * Rebuilds the table from `backend.list()`: adds and updates every managed container and
   * drops routes whose container is gone (launches under way excepted). Concurrent calls share
   * one listing.
   */
  reconcile(): Promise<void> {
    return this.#routes.reconcile();
  }

  /**
   * Stops watching and probing, closes the upstream pools, flushes the history and (unless
   * `closeBackend: false`) closes the backend. Containers keep running: a new manager adopts them.
   */
  async close(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    this.#closing.abort();
    this.#starts.close(new DdeError('ABORTED', 'The container manager closed before the launch could start'));
    if (this.#timer) clearInterval(this.#timer);
    if (this.#cullTimer) clearInterval(this.#cullTimer);
    this.#shared.stop();
    this.#table.clear();
    await this.#watching?.catch(() => {});
    await this.history.close();
    await this.#tickets.close();
    await this.coordination.close();
    if (this.#closeBackend) await this.backend.close();
  }
}

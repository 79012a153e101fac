import type { ContainerBackend, OperationOptions } from '../backend.ts';
import type { Coordination } from '../coordination/coordination.ts';
import type { MemoryCoordination } from '../coordination/memory-coordination.ts';
import type { History } from '../history/history.ts';
import type { MemoryHistory } from '../history/memory-history.ts';
import type { FieldList } from '../known-fields.ts';
import type { Logger } from '../lifecycle/logger.ts';
import type { DdeMetrics, RemovalReason } from '../lifecycle/metrics.ts';
import type { ContainerSpec } from '../spec.ts';
import type { ContainerManager, declaredTools } from './container-manager.ts';
import type { CapacityOptions, CullingOptions, LimitOptions } from './policies.ts';
import type { ContainerPhase, Route, UpstreamPoolOptions } from './route-table.ts';

// The options and events of ContainerManager, apart from the class that acts on them.

/** Options of {@link ContainerManager}. */
export interface ContainerManagerOptions {
  /** Where containers run. */
  backend: ContainerBackend;
  /**
   * Where the proxy records activity. Default: a {@link MemoryHistory}. A container's records
   * are forgotten once it is removed, through the manager or behind its back.
   */
  history?: History;
  /**
   * What the instances sharing the namespace decide together: admission (limits, budget, LRU
   * eviction), culling, and which containers each one serves. Default: a
   * {@link MemoryCoordination} (this instance alone). Give several instances one shared store
   * (e.g. `@dde/redis`) to run them as replicas; {@link ContainerManager.start} connects it and
   * {@link ContainerManager.close} closes it.
   */
  coordination?: Coordination;
  /**
   * How often the route table is rebuilt from `backend.list()`, in ms, catching changes events
   * missed. Default 30000; 0 turns periodic reconciliation off (events still apply).
   */
  reconcileIntervalMs?: number;
  /** How long "no such container" is remembered after a lookup, in ms. Default 1000. */
  negativeCacheMs?: number;
  /** Deadline of the lookup a request for an unknown name triggers, in ms. Default 10000. */
  lookupTimeoutMs?: number;
  /**
   * Most engine lookups of unknown names under way at once. A lookup beyond them rejects with
   * `LIMIT_EXCEEDED` (the proxy answers 429 with `Retry-After`) until one ends: a flood of
   * made-up names costs the engine at most this many calls at a time. Names in the table never
   * need one. Default 32.
   */
  maxConcurrentLookups?: number;
  /** Settings of the keep-alive pool opened to each upstream. */
  pool?: UpstreamPoolOptions;
  /** Where to log. Default: nowhere. */
  logger?: Logger;
  /** Whether {@link ContainerManager.close} also closes the backend. Default true. */
  closeBackend?: boolean;
  /** A memory budget with LRU eviction. Default: none. */
  capacity?: CapacityOptions;
  /**
   * Count limits (per owner, total, concurrent starts; launches beyond the concurrent starts
   * wait for a slot, first come first served). Default: none.
   */
  limits?: LimitOptions;
  /** Idle culling and maximum lifetime. Default: none. */
  culling?: CullingOptions;
  /**
   * Start on demand: the spec of a container that should start when a request arrives for a
   * name that does not exist yet, or undefined. See {@link declaredTools}.
   */
  onDemand?: (name: string) => ContainerSpec | undefined;
  /** Prometheus metrics to record into. Default: none. */
  metrics?: DdeMetrics;
}

export const MANAGER_FIELDS: FieldList<ContainerManagerOptions> = {
  backend: true,
  history: true,
  coordination: true,
  reconcileIntervalMs: true,
  negativeCacheMs: true,
  lookupTimeoutMs: true,
  maxConcurrentLookups: true,
  pool: true,
  logger: true,
  closeBackend: true,
  capacity: true,
  limits: true,
  culling: true,
  onDemand: true,
  metrics: true,
};

/** Options of {@link ContainerManager.lookup}. */
export interface LookupOptions {
  /** Start a container the `onDemand` option declares when none exists. Default true. */
  readonly startOnDemand?: boolean;
}

/** Options of {@link ContainerManager.purgeInactive}. */
export interface PurgeOptions extends OperationOptions {
  /** List what would be removed now, removing nothing. Default false. */
  readonly dryRun?: boolean;
}

/** A route changed phase. */
export interface PhaseChange {
  /** Container name. */
  readonly name: string;
  /** The new phase. */
  readonly phase: ContainerPhase;
  /** The phase before, or undefined when the route is new. */
  readonly previous: ContainerPhase | undefined;
  /** The route (live object). */
  readonly route: Route;
}

/** A route left the table (the container is gone, or the manager stopped tracking it). */
export interface RouteRemoved {
  /** Container name. */
  readonly name: string;
  /** Why, when this manager removed it; undefined when the container went away by itself. */
  readonly reason: RemovalReason | undefined;
}

/** Options of {@link ContainerManager.remove}. */
export interface RemoveOptions extends OperationOptions {
  /** Why (for metrics and the `removed` event). Default `manual`. */
  reason?: RemovalReason;
}

/** Events of {@link ContainerManager}, for `manager.on(...)`. */
export type ContainerManagerEvents = {
  /** A route was added or changed phase. */
  phase: [change: PhaseChange];
  /** A route left the table. */
  removed: [removed: RouteRemoved];
};

/** Options of {@link ContainerManager.waitUntilReady}. */
export interface WaitOptions {
  /** Deadline or cancellation, e.g. `AbortSignal.timeout(60_000)`. */
  signal?: AbortSignal;
}

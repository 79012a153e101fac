import type { ContainerInfo, Upstream } from '../backend.ts';
import {
  type UpstreamClient,
  UpstreamPool,
  type UpstreamPoolOptions,
  validatePoolOptions,
} from '../upstream/pool.ts';

export type { UpstreamPoolOptions };

/**
 * Where a container is on its way to serving requests: `queued` (its launch waits for a start
 * slot, see `limits.maxConcurrentStarts`; no container exists yet) → `pulling` → `creating` → `starting` (launch steps, or a created/restarting container) →
 * `probing` (running; readiness path not answering 200 yet) → `ready`; or `failed` (exited,
 * paused, or readiness timed out).
 */
export type ContainerPhase = 'queued' | 'pulling' | 'creating' | 'starting' | 'probing' | 'ready' | 'failed';

/** Why a container is {@link ContainerPhase | failed}. */
export interface RouteFailure {
  /**
   * `exited`: its process stopped; `readiness-timeout`: it never answered 200 in time; `paused`;
   * `no-upstream`: no address to reach it; `launch-failed`: starting it on demand failed.
   */
  readonly reason: 'exited' | 'readiness-timeout' | 'paused' | 'no-upstream' | 'launch-failed';
  /** The exit code, when it exited. */
  readonly exitCode: number | undefined;
  /** A sentence for people. */
  readonly message: string;
}

/**
 * A container in the route table: what the proxy reads on every request, without any engine
 * call. The object is live: the manager updates it in place as the container changes.
 */
export interface Route {
  /** Container name. */
  readonly name: string;
  /** What the backend last said about the container (provisional while launching). */
  readonly info: ContainerInfo;
  /** Where it is on its way to serving requests. */
  readonly phase: ContainerPhase;
  /** Set when `phase` is `failed`. */
  readonly failure: RouteFailure | undefined;
  /** Where the proxy connects, once the container runs. */
  readonly upstream: Upstream | undefined;
  /** `http://host:port` of the upstream, once the container runs. */
  readonly origin: string | undefined;
  /** Keep-alive connections to the upstream; set while probing and ready. */
  readonly pool: UpstreamClient | undefined;
  /** When the phase last changed (ms since the epoch). */
  readonly phaseSince: number;
  /**
   * While `phase` is `queued`: the launch's place among those waiting on this instance for a
   * start slot (1 is next); undefined otherwise.
   */
  readonly queuePosition: number | undefined;
  /** WebSocket (upgraded) sessions open through the proxy right now. */
  readonly openWebSockets: number;
  /**
   * HTTP exchanges being forwarded right now (a long download or an SSE stream is activity
   * before it is recorded at its end). The proxy counts them on the route itself.
   */
  readonly inFlightRequests: number;
  /**
   * The container left the table (removed, or gone by itself) and its history was forgotten:
   * this object is stale, and activity still arriving for it is not recorded.
   */
  readonly removed: boolean;
}

/** The mutable record behind a {@link Route}; only the manager changes it. */
export class RouteEntry implements Route {
  readonly name: string;
  info: ContainerInfo;
  phase: ContainerPhase;
  failure: RouteFailure | undefined = undefined;
  upstream: Upstream | undefined = undefined;
  origin: string | undefined = undefined;
  pool: UpstreamPool | undefined = undefined;
  phaseSince: number = Date.now();
  queuePosition: number | undefined = undefined;
  openWebSockets = 0;
  inFlightRequests = 0;
  removed = false;
  /** A launch through this manager is under way. */
  launching = false;
  /** A `phase` event was emitted for this entry (the first one says `previous: undefined`). */
  announced = false;
  /** Cancels the readiness probe under way. */
  probe: AbortController | undefined = undefined;
  /** The address whose readiness probe timed out (its verdict sticks while the address does). */
  unreadyAt: Upstream | undefined = undefined;

  constructor(info: ContainerInfo, phase: ContainerPhase) {
    this.name = info.name;
    this.info = info;
    this.phase = phase;
  }
}

/**
 * Routing state: container name → {@link RouteEntry}, and the upstream pools tied to entries.
 * Kept apart from the manager's lifecycle logic so that policies (capacity, culling) read it
 * without knowing how it is filled.
 */
export class RouteTable {
  readonly #entries = new Map<string, RouteEntry>();
  readonly #poolOptions: UpstreamPoolOptions;

  constructor(options: UpstreamPoolOptions = {}) {
    this.#poolOptions = validatePoolOptions(options);
  }

  /** The entry of that name. */
  get(name: string): RouteEntry | undefined {
    return this.#entries.get(name);
  }

  /** Adds an entry (replacing none: callers check first). */
  add(entry: RouteEntry): RouteEntry {
    this.#entries.set(entry.name, entry);
    return entry;
  }

  /** Every entry. */
  entries(): IterableIterator<RouteEntry> {
    return this.#entries.values();
  }

  /** Number of entries. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Points the entry at an upstream, opening a pool for it; a different upstream closes the old
   * pool first. Returns whether anything changed.
   */
  connect(entry: RouteEntry, upstream: Upstream): boolean {
    if (entry.pool && entry.upstream?.host === upstream.host && entry.upstream.port === upstream.port)
      return false;
    this.disconnect(entry);
    const pool = new UpstreamPool(upstream.host, upstream.port, this.#poolOptions);
    entry.upstream = upstream;
    entry.origin = pool.origin;
    entry.pool = pool;
    return true;
  }

  /**
   * Forgets the entry's upstream and destroys its pool: requests in flight fail (a client whose
   * response had started sees its connection cut) and WebSocket sessions to it close. The
   * container stopped, froze, moved or went: waiting on it would hang its clients. With
   * `graceful`, the pool closes instead, letting exchanges in flight finish.
   */
  disconnect(entry: RouteEntry, graceful = false): void {
    const pool = entry.pool;
    entry.pool = undefined;
    entry.upstream = undefined;
    entry.origin = undefined;
    if (pool) void (graceful ? pool.close() : pool.destroy());
  }

  /** Removes the entry, stops its probe and disconnects it (see {@link RouteTable.disconnect}). */
  delete(entry: RouteEntry, graceful = false): void {
    if (this.#entries.get(entry.name) === entry) this.#entries.delete(entry.name);
    entry.probe?.abort();
    entry.probe = undefined;
    this.disconnect(entry, graceful);
  }

  /** Removes every entry; their pools close gracefully (the containers still run). */
  clear(): void {
    for (const entry of [...this.#entries.values()]) this.delete(entry, true);
  }
}

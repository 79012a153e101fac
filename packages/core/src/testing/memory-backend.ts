import type {
  BackendCapabilities,
  BackendEvent,
  ContainerBackend,
  ContainerInfo,
  ContainerState,
  LaunchOptions,
  LogEntry,
  LogOptions,
  OperationOptions,
  Upstream,
} from '../backend.ts';
import { DdeError, throwIfAborted } from '../errors.ts';
import { DEFAULT_NAMESPACE, validateNamespace } from '../labels.ts';
import { planLaunch } from '../plan.ts';
import type { ContainerSpec } from '../spec.ts';

/** The methods of {@link ContainerBackend} whose calls {@link MemoryBackend} counts. */
export type BackendMethod = 'launch' | 'inspect' | 'list' | 'remove' | 'logs' | 'events' | 'close';

/** Options of {@link MemoryBackend}. */
export interface MemoryBackendOptions {
  /** Namespace of the backend. Default `default`. */
  namespace?: string;
  /** Capabilities to report. Default: everything but pulling images. */
  capabilities?: Partial<BackendCapabilities>;
  /**
   * Where the proxy reaches a launched container (e.g. a local test server). Default: the
   * address given to {@link MemoryBackend.setUpstream} for its name, else none.
   */
  upstreamFor?: (spec: ContainerSpec) => Upstream | undefined;
  /** Delay of each launch step, in ms, to observe launch phases. Default 0. */
  stepDelayMs?: number;
}

/** What {@link MemoryBackend.add} accepts: a container's name and anything to override. */
export interface MemoryContainer extends Partial<ContainerInfo> {
  /** Container name. */
  readonly name: string;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * A {@link ContainerBackend} in memory, for fast unit tests of core and of the proxy: its
 * containers are records whose upstream you point at local servers. It counts calls per method
 * (so tests can prove the proxy's hot path makes none), pushes events, and lets tests change
 * containers behind the manager's back. Never a substitute for the real engine in a backend's
 * own tests.
 */
export class MemoryBackend implements ContainerBackend {
  /** Always `memory`. */
  readonly kind = 'memory';
  /** The namespace whose containers this backend holds. */
  readonly namespace: string;
  /** What this backend reports it can do (see the `capabilities` option). */
  readonly capabilities: BackendCapabilities;
  /** Calls made so far, per method. */
  readonly calls: Record<BackendMethod, number> = {
    launch: 0,
    inspect: 0,
    list: 0,
    remove: 0,
    logs: 0,
    events: 0,
    close: 0,
  };
  readonly #containers = new Map<string, Mutable<ContainerInfo>>();
  readonly #logs = new Map<string, LogEntry[]>();
  readonly #upstreams = new Map<string, Upstream>();
  readonly #subscribers = new Set<(event: BackendEvent) => void>();
  readonly #upstreamFor: ((spec: ContainerSpec) => Upstream | undefined) | undefined;
  readonly #stepDelayMs: number;
  #nextId = 1;
  #inspectDelayMs = 0;

  constructor(options: MemoryBackendOptions = {}) {
    this.namespace = validateNamespace(options.namespace ?? DEFAULT_NAMESPACE);
    this.capabilities = {
      placesFiles: true,
      pushesEvents: true,
      volumes: true,
      logs: true,
      pullsImages: false,
      ...options.capabilities,
    };
    this.#upstreamFor = options.upstreamFor;
    this.#stepDelayMs = options.stepDelayMs ?? 0;
  }

  /** Total calls over all methods. */
  get totalCalls(): number {
    return Object.values(this.calls).reduce((sum, count) => sum + count, 0);
  }

  /** Sets every call count back to zero. */
  resetCalls(): void {
    for (const key of Object.keys(this.calls) as BackendMethod[]) this.calls[key] = 0;
  }

  /** Sets the upstream of the container of that name (for containers launched later too). */
  setUpstream(name: string, upstream: Upstream | undefined): void {
    if (upstream === undefined) this.#upstreams.delete(name);
    else this.#upstreams.set(name, upstream);
    const container = this.#containers.get(name);
    if (container && container.state === 'running') container.upstream = upstream;
  }

  /** Makes every later `inspect` take this long (to test concurrent lookups). */
  setInspectDelay(ms: number): void {
    this.#inspectDelayMs = ms;
  }

  /**
   * Adds a container directly, as if launched earlier or by another instance (running by
   * default), and pushes `created` and `started` events unless `silent`.
   */
  add(container: MemoryContainer, options: { silent?: boolean } = {}): ContainerInfo {
    const info = this.#makeInfo(container);
    this.#containers.set(info.name, info);
    if (!options.silent) {
      this.emit({ type: 'created', name: info.name, id: info.id, time: new Date() });
      if (info.state === 'running')
        this.emit({ type: 'started', name: info.name, id: info.id, time: new Date() });
    }
    return { ...info };
  }

  /** Stops the container's process with an exit code, pushing a `died` event unless `silent`. */
  exit(name: string, exitCode: number, options: { silent?: boolean } = {}): void {
    const container = this.#require(name);
    container.state = 'exited';
    container.exitCode = exitCode;
    container.finishedAt = new Date();
    container.upstream = undefined;
    if (!options.silent) {
      this.emit({ type: 'died', name, id: container.id, time: new Date(), exitCode });
    }
  }

  /**
   * Freezes a running container (`paused`) or thaws it (`running` again), pushing a `paused` or
   * `unpaused` event unless `silent`. Its address stays, as an engine's does.
   */
  setPaused(name: string, paused: boolean, options: { silent?: boolean } = {}): void {
    const container = this.#require(name);
    container.state = paused ? 'paused' : 'running';
    if (!options.silent) {
      this.emit({ type: paused ? 'paused' : 'unpaused', name, id: container.id, time: new Date() });
    }
  }

  /** Deletes the container without going through `remove` (as if removed by someone else). */
  drop(name: string, options: { silent?: boolean } = {}): void {
    const container = this.#require(name);
    this.#containers.delete(name);
    this.#logs.delete(name);
    if (!options.silent) this.emit({ type: 'destroyed', name, id: container.id, time: new Date() });
  }

  /** Appends lines to the container's output. */
  writeLogs(name: string, lines: readonly string[], stream: 'stdout' | 'stderr' = 'stdout'): void {
    const entries = this.#logs.get(name) ?? [];
    for (const text of lines) entries.push({ stream, time: new Date(), text });
    this.#logs.set(name, entries);
  }

  /** Pushes an event to every subscriber of {@link MemoryBackend.events}. */
  emit(event: BackendEvent): void {
    for (const subscriber of this.#subscribers) subscriber(event);
  }

  /** Number of open {@link MemoryBackend.events} subscriptions. */
  get subscribers(): number {
    return this.#subscribers.size;
  }

  /** Validates and plans the spec like a real backend, reports `creating` and `starting`, then adds the container running (pushing `created` and `started`). Throws `CONFLICT` for a taken name. */
  async launch(spec: ContainerSpec, options: LaunchOptions = {}): Promise<ContainerInfo> {
    this.calls.launch++;
    const plan = planLaunch(spec, this);
    const name = plan.spec.name;
    throwIfAborted(options.signal, `Launching ${name}`);
    if (this.#containers.has(name)) {
      throw new DdeError(
        'CONFLICT',
        `A container named ${name} already exists: remove it or choose another name`,
        {
          field: 'name',
        },
      );
    }
    for (const phase of ['creating', 'starting'] as const) {
      options.onProgress?.({ phase, name });
      await this.#step(options.signal, name);
    }
    const upstream = this.#upstreamFor?.(spec) ?? this.#upstreams.get(name);
    const info = this.add({
      name,
      image: plan.spec.image,
      port: plan.spec.port,
      upstream,
      readiness: { ...plan.spec.readiness },
      owner: plan.spec.owner,
      memoryReservationMb: plan.spec.memoryReservationMb,
      memoryLimitMb: plan.spec.memoryLimitMb,
      cpus: plan.spec.cpus,
      labels: { ...plan.spec.labels },
      specHash: plan.labels['dde.spec-hash'] ?? '',
    });
    return info;
  }

  /** The container of that name, or undefined (after the delay set by {@link MemoryBackend.setInspectDelay}). */
  async inspect(name: string, options: OperationOptions = {}): Promise<ContainerInfo | undefined> {
    this.calls.inspect++;
    if (this.#inspectDelayMs > 0) await this.#sleep(this.#inspectDelayMs, options.signal, name);
    throwIfAborted(options.signal, `Inspecting ${name}`);
    const container = this.#containers.get(name);
    return container && { ...container };
  }

  /** Every container of this backend, in any state. */
  async list(options: OperationOptions = {}): Promise<ContainerInfo[]> {
    this.calls.list++;
    throwIfAborted(options.signal, 'Listing containers');
    return [...this.#containers.values()].map((container) => ({ ...container }));
  }

  /** Removes the container (pushing `destroyed`); false when there was none. */
  async remove(name: string, options: OperationOptions = {}): Promise<boolean> {
    this.calls.remove++;
    throwIfAborted(options.signal, `Removing ${name}`);
    if (!this.#containers.has(name)) return false;
    this.drop(name);
    return true;
  }

  /** The lines written with {@link MemoryBackend.writeLogs}, filtered by `since` and `tail`. */
  async logs(name: string, options: LogOptions = {}): Promise<LogEntry[]> {
    this.calls.logs++;
    throwIfAborted(options.signal, `Reading logs of ${name}`);
    this.#require(name);
    let entries = this.#logs.get(name) ?? [];
    const since = options.since;
    if (since !== undefined)
      entries = entries.filter((entry) => (entry.time?.getTime() ?? 0) >= since.getTime());
    if (options.tail !== undefined) entries = entries.slice(Math.max(0, entries.length - options.tail));
    return entries.map((entry) => ({ ...entry }));
  }

  /** The events pushed from now on (by changes and {@link MemoryBackend.emit}), until the signal aborts. */
  events(options: OperationOptions = {}): AsyncIterable<BackendEvent> {
    this.calls.events++;
    const subscribers = this.#subscribers;
    return {
      [Symbol.asyncIterator](): AsyncIterator<BackendEvent> {
        const queue: BackendEvent[] = [];
        let wake: (() => void) | undefined;
        let done = false;
        const push = (event: BackendEvent): void => {
          queue.push(event);
          wake?.();
        };
        const stop = (): void => {
          done = true;
          subscribers.delete(push);
          wake?.();
        };
        subscribers.add(push);
        options.signal?.addEventListener('abort', stop, { once: true });
        if (options.signal?.aborted) stop();
        return {
          async next(): Promise<IteratorResult<BackendEvent>> {
            while (queue.length === 0 && !done) {
              await new Promise<void>((resolve) => {
                wake = resolve;
              });
              wake = undefined;
            }
            const event = queue.shift();
            return event === undefined ? { done: true, value: undefined } : { done: false, value: event };
          },
          async return(): Promise<IteratorResult<BackendEvent>> {
            stop();
            return { done: true, value: undefined };
          },
        };
      },
    };
  }

  /** Counts the call; the backend stays usable (tests reuse it across managers). */
  async close(): Promise<void> {
    this.calls.close++;
  }

  #makeInfo(container: MemoryContainer): Mutable<ContainerInfo> {
    const now = new Date();
    const state: ContainerState = container.state ?? 'running';
    return {
      id: `memory-${this.#nextId++}`,
      image: 'memory/tool:latest',
      namespace: this.namespace,
      state,
      exitCode: undefined,
      createdAt: now,
      startedAt: state === 'running' ? now : undefined,
      finishedAt: undefined,
      port: 80,
      upstream: state === 'running' ? this.#upstreams.get(container.name) : undefined,
      readiness: { path: '/', timeoutMs: 120_000 },
      owner: undefined,
      memoryReservationMb: undefined,
      memoryLimitMb: undefined,
      cpus: undefined,
      specHash: '',
      labels: {},
      ...container,
    };
  }

  #require(name: string): Mutable<ContainerInfo> {
    const container = this.#containers.get(name);
    if (!container) throw new DdeError('NOT_FOUND', `No managed container named ${name}`);
    return container;
  }

  async #step(signal: AbortSignal | undefined, name: string): Promise<void> {
    if (this.#stepDelayMs > 0) await this.#sleep(this.#stepDelayMs, signal, name);
  }

  async #sleep(ms: number, signal: AbortSignal | undefined, name: string): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    throwIfAborted(signal, `Operation on ${name}`);
  }
}

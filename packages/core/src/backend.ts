import type { ContainerSpec } from './spec.ts';

/**
 * What a backend can do. Core and the proxy adapt to these flags instead of assuming the
 * lowest common denominator.
 */
export interface BackendCapabilities {
  /** Can write files into the container before its process starts ({@link fileInput}). */
  readonly placesFiles: boolean;
  /** {@link ContainerBackend.events} pushes changes as they happen; otherwise poll `list`. */
  readonly pushesEvents: boolean;
  /** Backs {@link ContainerSpec.extraDirectories} with volumes removed with the container. */
  readonly volumes: boolean;
  /** {@link ContainerBackend.logs} returns the container's output. */
  readonly logs: boolean;
  /** Pulls missing images itself and reports progress while doing so. */
  readonly pullsImages: boolean;
}

/** Lifecycle state of a container, as the engine reports it. */
export type ContainerState =
  | 'created'
  | 'running'
  | 'restarting'
  | 'paused'
  | 'exited'
  | 'dead'
  | 'removing'
  | 'unknown';

/** When a container counts as ready, as recorded on it. */
export interface ReadinessSettings {
  /** Path that must answer 200. */
  readonly path: string;
  /** How long a start may take before the container counts as failed. */
  readonly timeoutMs: number;
}

/** A network address the proxy connects to. */
export interface Upstream {
  /** Host name or IP address. */
  readonly host: string;
  /** TCP port. */
  readonly port: number;
}

/** A managed container as dde sees it: vendor-free, rebuilt from labels and engine state. */
export interface ContainerInfo {
  /** The container name (the routing key). */
  readonly name: string;
  /** The engine's id for the container (Docker container id, ECS task ARN). */
  readonly id: string;
  /** Image reference it runs. */
  readonly image: string;
  /** Namespace label: which dde instance owns it. */
  readonly namespace: string;
  /** Engine state. */
  readonly state: ContainerState;
  /** Exit code once the container has stopped. */
  readonly exitCode: number | undefined;
  /**
   * Why it stopped, in the engine's words, when the engine says more than the exit code (ECS's
   * `stoppedReason` and the container's reason). Shown on the proxy's failure page.
   */
  readonly exitReason?: string | undefined;
  /** When the container was created. */
  readonly createdAt: Date;
  /** When its process last started. */
  readonly startedAt: Date | undefined;
  /** When its process last stopped. */
  readonly finishedAt: Date | undefined;
  /** The port the tool listens on inside the container. */
  readonly port: number;
  /**
   * Where the proxy reaches the tool, while the container runs: the container's own address
   * when the proxy can reach it directly, else a published port.
   */
  readonly upstream: Upstream | undefined;
  /** Readiness probe settings from the spec. */
  readonly readiness: ReadinessSettings;
  /** Owner (user id) from the spec. */
  readonly owner: string | undefined;
  /** Memory reservation in MB from the spec. */
  readonly memoryReservationMb: number | undefined;
  /** Memory limit in MB as applied. */
  readonly memoryLimitMb: number | undefined;
  /** CPU limit in cores as applied. */
  readonly cpus: number | undefined;
  /** Hash of the spec it was launched from. */
  readonly specHash: string;
  /** The user's labels (dde's own `dde.*` labels left out). */
  readonly labels: Readonly<Record<string, string>>;
}

/** How far the pull of one image layer got. */
export interface LayerProgress {
  /** Layer id. */
  readonly id: string;
  /** Bytes done. */
  readonly current?: number;
  /** Bytes in all. */
  readonly total?: number;
}

/** A pull, create or start step reported while launching. */
export interface LaunchProgress {
  /** The step under way. */
  readonly phase: 'pulling' | 'creating' | 'placing-input' | 'starting';
  /** Container name. */
  readonly name: string;
  /** Human-readable detail, e.g. a pull status line. */
  readonly message?: string;
  /** During `pulling`: the layer being fetched and how far it got, when the engine says. */
  readonly layer?: LayerProgress;
}

/** Options every backend operation takes. */
export interface OperationOptions {
  /** Deadline or cancellation for the whole operation (e.g. `AbortSignal.timeout(30_000)`). */
  signal?: AbortSignal;
}

/** Options of {@link ContainerBackend.launch}. */
export interface LaunchOptions extends OperationOptions {
  /** Called at each step (image pull progress included). */
  onProgress?: (progress: LaunchProgress) => void;
}

/** Options of {@link ContainerBackend.logs}. */
export interface LogOptions extends OperationOptions {
  /** Only the last N lines. Default: all. */
  tail?: number;
  /** Only lines written at or after this time. */
  since?: Date;
}

/** One line of container output. */
export interface LogEntry {
  /** Which stream wrote it. */
  readonly stream: 'stdout' | 'stderr';
  /** When the engine recorded it. */
  readonly time: Date | undefined;
  /** The line, without its newline. */
  readonly text: string;
}

/** Fields every container event carries. */
export interface ContainerEventBase {
  /** Container name. */
  readonly name: string;
  /** The engine's id for the container. */
  readonly id: string;
  /** When the engine saw the change. */
  readonly time: Date;
}

/** A container was created, started or destroyed. */
export interface ContainerLifecycleEvent extends ContainerEventBase {
  /** What happened. */
  readonly type: 'created' | 'started' | 'destroyed';
}

/** A container's process stopped. */
export interface ContainerDiedEvent extends ContainerEventBase {
  /** What happened. */
  readonly type: 'died';
  /** The process's exit code, when the engine reports it. */
  readonly exitCode: number | undefined;
}

/** A container's engine-level health check changed. */
export interface ContainerHealthEvent extends ContainerEventBase {
  /** What happened. */
  readonly type: 'health';
  /** The new health status. */
  readonly health: 'starting' | 'healthy' | 'unhealthy';
}

/** A container's processes were frozen (`paused`) or thawed (`unpaused`). */
export interface ContainerPauseEvent extends ContainerEventBase {
  /** What happened. */
  readonly type: 'paused' | 'unpaused';
}

/**
 * A container was attached to or detached from a network, so the address the proxy reaches it at
 * may have changed. Engines name the network, not the container: the event carries the
 * container's id only, and may concern containers of other namespaces (consumers ignore ids they
 * do not manage).
 */
export interface ContainerNetworkEvent {
  /** What happened. */
  readonly type: 'network-connected' | 'network-disconnected';
  /** The engine's id for the container. */
  readonly id: string;
  /** The network's name or id, as the engine reports it. */
  readonly network: string;
  /** When the engine saw the change. */
  readonly time: Date;
}

/** Events may have been missed (the stream reconnected): reconcile with {@link ContainerBackend.list}. */
export interface ResyncEvent {
  /** What happened. */
  readonly type: 'resync';
  /** When the stream came back. */
  readonly time: Date;
  /** Why events may have been missed. */
  readonly reason: string;
}

/** A change pushed by {@link ContainerBackend.events}. */
export type BackendEvent =
  | ContainerLifecycleEvent
  | ContainerDiedEvent
  | ContainerHealthEvent
  | ContainerPauseEvent
  | ContainerNetworkEvent
  | ResyncEvent;

/**
 * Where containers run: a Docker Engine, AWS ECS, or a test double. Implementations map their
 * vendor's API and errors onto these vendor-free types and onto `DdeError` codes.
 *
 * Every method sees only containers of the backend's own {@link ContainerBackend.namespace}
 * that dde labelled; anything else does not exist for it.
 */
export interface ContainerBackend {
  /** Short name of the backend kind, e.g. `docker`. */
  readonly kind: string;
  /** The namespace whose containers this backend manages. */
  readonly namespace: string;
  /** What this backend can do. */
  readonly capabilities: BackendCapabilities;
  /**
   * Creates and starts a container. Validates the spec and plans its input first, so bad
   * input fails before anything exists; a launch that fails part way removes what it created.
   * Throws `CONFLICT` when the name is taken.
   */
  launch(spec: ContainerSpec, options?: LaunchOptions): Promise<ContainerInfo>;
  /** The managed container of that name, or undefined. */
  inspect(name: string, options?: OperationOptions): Promise<ContainerInfo | undefined>;
  /** Every managed container of this namespace, in any state. */
  list(options?: OperationOptions): Promise<ContainerInfo[]>;
  /**
   * Removes the container, whatever its state, with its volumes. Returns false when there was
   * no such managed container.
   */
  remove(name: string, options?: OperationOptions): Promise<boolean>;
  /** The container's output, stdout and stderr interleaved in time order. */
  logs(name: string, options?: LogOptions): Promise<LogEntry[]>;
  /**
   * Changes to managed containers, as they happen, until the signal aborts. Survives engine
   * restarts: it reconnects and yields a `resync` event.
   */
  events(options?: OperationOptions): AsyncIterable<BackendEvent>;
  /** Releases connections held by the backend. */
  close(): Promise<void>;
}

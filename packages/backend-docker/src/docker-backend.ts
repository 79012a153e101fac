import { randomBytes } from 'node:crypto';
import type {
  BackendCapabilities,
  BackendEvent,
  ContainerBackend,
  ContainerInfo,
  ContainerSpec,
  LaunchOptions,
  LaunchPlan,
  LaunchProgress,
  LogEntry,
  LogOptions,
  OperationOptions,
} from '@dde/core';
import {
  DdeError,
  invalidOption,
  isDdeError,
  isValidName,
  namespaceFilter,
  planLaunch,
  throwIfAborted,
} from '@dde/core';
import type Dockerode from 'dockerode';
import { engineCall, engineStream, readAll } from './api.ts';
import { describeClient, type EngineSummary } from './client-summary.ts';
import { mapLimit, untilAborted } from './concurrency.ts';
import { isOurs, toContainerInfo } from './container-info.ts';
import type { ContainerJson, ContainerSummary } from './container-json.ts';
import { createBody } from './create-body.ts';
import { createDockerClient, resolveEngine } from './engine.ts';
import {
  asLaunchFailure,
  engineMessage,
  isConflict,
  isNotFound,
  isNotModified,
  toDdeError,
} from './errors.ts';
import { followEvents, WATCHED_ACTIONS, WATCHED_TYPES } from './events.ts';
import { imageExists, parseImageReference, pullImage, registryAuthFor } from './image.ts';
import { placeInputFile } from './input-files.ts';
import { cleanUpLaunch } from './launch-cleanup.ts';
import { parseLogs } from './logs.ts';
import { ContainerNetwork, isNetworkTrouble } from './network.ts';
import type { DockerBackendOptions, ResolvedOptions } from './options.ts';
import { validateOptions } from './options.ts';
import type { UpstreamPolicy } from './upstream.ts';
import { createDirectoryVolume, removeDirectoryVolumes, type VolumeEngine } from './volumes.ts';

export type { EngineSummary } from './client-summary.ts';

// A random id of the launch that created a container (see `findLaunched`).
const LAUNCH_LABEL = 'dde.launch-id';
// Inspecting every listed container at once could open hundreds of engine connections.
const LIST_CONCURRENCY = 8;
// Launches retried when the namespace's network vanished or was doubled under them.
const NETWORK_ATTEMPTS = 3;

/**
 * A `ContainerBackend` (from `@dde/core`) on a Docker Engine, local or remote, through dockerode.
 *
 * @example
 * ```ts
 * const backend = new DockerBackend({ namespace: 'my-app' }); // DOCKER_HOST, context, or local socket
 * const info = await backend.launch({
 *   name: 'alice-viewer',
 *   image: 'nginx:1.27-alpine',
 *   input: { files: ['a.csv'] },
 *   inputs: [fileInput('/usr/share/nginx/html/input.json')],
 *   port: 80,
 * });
 * console.log(info.upstream); // { host: '172.17.0.5', port: 80 }
 * ```
 */
export class DockerBackend implements ContainerBackend {
  /** Always `docker`. */
  readonly kind = 'docker';
  /** The namespace whose containers this backend manages. */
  readonly namespace: string;
  /** Everything: files, events, volumes, logs and pulls. */
  readonly capabilities: BackendCapabilities = {
    placesFiles: true,
    pushesEvents: true,
    volumes: true,
    logs: true,
    pullsImages: true,
  };
  /** The engine this backend talks to. */
  readonly engine: EngineSummary;
  /**
   * The Docker network the containers join: the `network` option, else `dde-<namespace>`, the
   * namespace's own network where containers cannot reach each other (created on first launch).
   */
  readonly network: string;

  private readonly docker: Dockerode;
  private readonly options: ResolvedOptions;
  private readonly policy: UpstreamPolicy;
  private readonly publishHostIp: string | undefined;
  private readonly closing = new AbortController();
  private readonly containerNetwork: ContainerNetwork;
  private readonly volumeEngine: VolumeEngine;

  /** Validates options and finds the engine; throws `INVALID_OPTION` naming the field at fault. */
  constructor(options: DockerBackendOptions = {}) {
    this.options = validateOptions(options);
    this.namespace = this.options.namespace;
    let engineHost: string | undefined;
    if (this.options.docker) {
      this.docker = this.options.docker;
      ({ summary: this.engine, host: engineHost } = describeClient(this.docker));
    } else {
      const resolved = resolveEngine();
      this.docker = createDockerClient(resolved.endpoint, { sshArgs: this.options.sshArgs });
      this.engine = { url: resolved.url, local: resolved.local };
      engineHost = resolved.endpoint.kind === 'socket' ? undefined : resolved.endpoint.host;
    }
    if (
      !this.engine.local &&
      this.options.publishHostIp === undefined &&
      this.options.upstream !== 'bridge'
    ) {
      throw invalidOption(
        'publishHostIp',
        `is required for the remote engine ${this.engine.url}: set it to the engine host's address that this process can reach (never 0.0.0.0 unless you mean every interface), or use upstream: 'bridge' when this process can route to container addresses`,
      );
    }
    this.publishHostIp = this.options.publishHostIp ?? (this.engine.local ? '127.0.0.1' : undefined);
    this.containerNetwork = new ContainerNetwork(
      this.docker,
      this.options.network,
      this.namespace,
      this.engine.url,
    );
    this.network = this.containerNetwork.name;
    this.volumeEngine = { docker: this.docker, url: this.engine.url };
    this.policy = {
      mode: this.options.upstream,
      local: this.engine.local,
      platform: process.platform,
      network: this.network,
      engineHost,
    };
  }

  /**
   * Pulls the image if needed, creates the container (with a volume per extra directory),
   * places the input files, and starts it. Anything that fails after the container exists
   * removes it and its volumes before the error is thrown.
   */
  async launch(spec: ContainerSpec, options: LaunchOptions = {}): Promise<ContainerInfo> {
    const plan = planLaunch(spec, this);
    const { signal, onProgress } = options;
    const { name, image } = plan.spec;
    const what = `launch of container ${name}`;
    throwIfAborted(signal, what);
    await this.ensureImage(image, name, signal, onProgress);
    for (let attempt = 1; ; attempt++) {
      throwIfAborted(signal, what);
      try {
        return await this.createAndStart(plan, options);
      } catch (error) {
        // The namespace's network went away, or a racing process created a second one, while
        // the container started: settle on one network and try again.
        const networkGone = isDdeError(error) && error.field === 'network' && error.code === 'NOT_FOUND';
        if (!networkGone || !this.containerNetwork.owned || attempt >= NETWORK_ATTEMPTS) throw error;
        this.containerNetwork.forget();
      }
    }
  }

  private async createAndStart(plan: LaunchPlan, options: LaunchOptions): Promise<ContainerInfo> {
    const { signal, onProgress } = options;
    const { name } = plan.spec;
    const what = `launch of container ${name}`;
    onProgress?.({ phase: 'creating', name });
    const volumes: string[] = [];
    // Marks the container this launch creates, so that it can be told apart from a concurrent
    // launch's when the engine's answer to the creation is lost.
    const launchId = randomBytes(8).toString('hex');
    // Creations are not cut by the launch's signal: an engine that acted on a request whose
    // answer we dropped would leave an object we cannot name. The launch stops waiting for them
    // at its deadline; the cleanup waits for their answers, up to its own deadline, which
    // finally cuts them too.
    const creations = new AbortController();
    let creatingVolume: Promise<void> | undefined;
    let creating: Promise<string> | undefined;
    let id: string | undefined;
    try {
      const network = await untilAborted(this.containerNetwork.resolve(signal), signal, what);
      for (const [index, path] of plan.spec.extraDirectories.entries()) {
        throwIfAborted(signal, what);
        // Recorded before the request: the engine may create it even if its answer is lost.
        const volume = `${name}-dir${index}-${randomBytes(4).toString('hex')}`;
        volumes.push(volume);
        // Creations carry their own signal, not the launch's (see above).
        creatingVolume = createDirectoryVolume(this.volumeEngine, plan, volume, path, creations.signal);
        await untilAborted(creatingVolume, signal, what);
      }
      throwIfAborted(signal, what);
      creating = this.createContainer(plan, { volumes, launchId, network }, creations.signal);
      id = await untilAborted(creating, signal, what);
      if (plan.files.length > 0) {
        onProgress?.({ phase: 'placing-input', name });
        for (const file of plan.files)
          await placeInputFile(this.docker, this.engine.url, { id, name }, file, signal);
      }
      onProgress?.({ phase: 'starting', name });
      await this.start(id, name, signal);
      const info = await this.inspectId(id, signal);
      if (info === undefined) {
        throw new DdeError('LAUNCH_FAILED', `Container ${name} was removed by someone else while it started`);
      }
      return info;
    } catch (error) {
      const deadline = AbortSignal.any([
        AbortSignal.timeout(this.options.cleanupTimeoutMs),
        this.closing.signal,
      ]);
      const findLaunched = (cleanup: AbortSignal) => this.findLaunched(name, launchId, cleanup);
      await cleanUpLaunch(
        this.docker,
        { id, creating, creatingVolume, creations, volumes, name, findLaunched },
        deadline,
      );
      throw isDdeError(error) ? error : toDdeError(error, { what, engine: this.engine.url, signal });
    } finally {
      creations.abort();
    }
  }

  /** The managed container of that name in this namespace, or undefined. */
  async inspect(name: string, options: OperationOptions = {}): Promise<ContainerInfo | undefined> {
    const container = await this.findOurs(name, options.signal);
    return container && this.toInfo(container);
  }

  /** Every managed container of this namespace, in any state. */
  async list(options: OperationOptions = {}): Promise<ContainerInfo[]> {
    const { signal } = options;
    const summaries = await this.call<ContainerSummary[]>('list of containers', signal, {
      method: 'GET',
      path: '/containers/json',
      query: { all: true, filters: { label: namespaceFilter(this.namespace) } },
    });
    const infos = await mapLimit(summaries, LIST_CONCURRENCY, (summary) =>
      this.inspectId(summary.Id, signal),
    );
    return infos.filter((info): info is ContainerInfo => info !== undefined);
  }

  /**
   * Force-removes the container with its volumes. Returns false when this namespace has no
   * managed container of that name: containers dde did not label are never touched.
   */
  async remove(name: string, options: OperationOptions = {}): Promise<boolean> {
    const { signal } = options;
    const container = await this.findOurs(name, signal);
    if (container === undefined) return false;
    let removed = true;
    try {
      await engineCall(this.docker, {
        method: 'DELETE',
        path: `/containers/${container.Id}`,
        query: { force: true, v: true },
        signal,
      });
    } catch (error) {
      if (isNotFound(error)) {
        removed = false;
      } else if (isConflict(error)) {
        // Someone else's removal is under way: wait for it so that the volumes are free.
        await this.waitRemoved(container.Id, name, signal);
      } else {
        throw toDdeError(error, { what: `removal of container ${name}`, engine: this.engine.url, signal });
      }
    }
    await removeDirectoryVolumes(this.volumeEngine, this.namespace, container, name, signal);
    return removed;
  }

  /** The container's output, stdout and stderr in time order. Throws `NOT_FOUND` for an unknown name. */
  async logs(name: string, options: LogOptions = {}): Promise<LogEntry[]> {
    const { signal, tail, since } = options;
    if (tail !== undefined && (!Number.isInteger(tail) || tail < 0)) {
      throw invalidOption('tail', `must be a whole number of lines, got ${String(tail)}`);
    }
    if (since !== undefined && (!(since instanceof Date) || Number.isNaN(since.getTime()))) {
      throw invalidOption('since', 'must be a valid Date');
    }
    const container = await this.findOurs(name, signal);
    if (container === undefined) throw notFound(name);
    const what = `logs of container ${name}`;
    try {
      const stream = await engineStream(this.docker, {
        method: 'GET',
        path: `/containers/${container.Id}/logs`,
        query: {
          stdout: true,
          stderr: true,
          timestamps: true,
          tail: tail ?? 'all',
          ...(since === undefined ? {} : { since: unixSeconds(since) }),
        },
        signal,
      });
      return parseLogs(await readAll(stream), container.Config.Tty);
    } catch (error) {
      throw toDdeError(error, { what, engine: this.engine.url, signal });
    }
  }

  /**
   * Changes to this namespace's containers as they happen, until the signal aborts or the
   * backend closes. Reconnects after an engine restart and then yields `resync`.
   */
  events(options: OperationOptions = {}): AsyncIterable<BackendEvent> {
    const signal = options.signal
      ? AbortSignal.any([options.signal, this.closing.signal])
      : this.closing.signal;
    // No label filter: the engine would apply it to network events too (their attributes hold
    // the network's labels), dropping them. Container events are filtered here instead.
    const filters = { type: WATCHED_TYPES, event: WATCHED_ACTIONS };
    const labels = namespaceFilter(this.namespace);
    return followEvents(
      (since, streamSignal) =>
        engineStream(this.docker, {
          method: 'GET',
          path: '/events',
          query: { filters, ...(since === undefined ? {} : { since: String(since) }) },
          signal: streamSignal,
        }),
      signal,
      {
        labels,
        mapError: (error) => toDdeError(error, { what: 'event stream', engine: this.engine.url, signal }),
      },
    );
  }

  /**
   * Removes the namespace's own network (`dde-<namespace>`), for an application that is being
   * uninstalled; the next launch would create it again. Returns false when it does not exist,
   * and always when the `network` option names a network of yours: dde never removes a network
   * it did not create. Throws `CONFLICT` while containers are still attached: remove them first.
   */
  async removeNetwork(options: OperationOptions = {}): Promise<boolean> {
    return this.containerNetwork.remove(options.signal);
  }

  /** Ends event streams. The dockerode client, if you gave one, stays yours to close. */
  async close(): Promise<void> {
    this.closing.abort(new DdeError('ABORTED', 'The Docker backend was closed'));
  }

  private async ensureImage(
    image: string,
    name: string,
    signal: AbortSignal | undefined,
    onProgress: ((progress: LaunchProgress) => void) | undefined,
  ): Promise<void> {
    const { pullPolicy } = this.options;
    if (
      pullPolicy !== 'always' &&
      (await imageExists(this.docker, image, { engine: this.engine.url, signal }))
    ) {
      return;
    }
    if (pullPolicy === 'never') {
      throw new DdeError(
        'NOT_FOUND',
        `Image ${image} is not on the Docker Engine at ${this.engine.url} and pullPolicy is "never": build or pull it there first, or use pullPolicy "missing"`,
        { field: 'image' },
      );
    }
    onProgress?.({ phase: 'pulling', name, message: `Pulling ${image}` });
    const auth = await registryAuthFor(this.options.registryAuth, parseImageReference(image).registry);
    await pullImage(this.docker, image, { name, engine: this.engine.url, auth, signal, onProgress });
  }

  private async createContainer(
    plan: LaunchPlan,
    target: { volumes: readonly string[]; launchId: string; network: string },
    signal: AbortSignal,
  ): Promise<string> {
    const { spec } = plan;
    const body = createBody(plan, {
      volumes: target.volumes,
      labels: { [LAUNCH_LABEL]: target.launchId },
      publishHostIp: this.publishHostIp,
      network: target.network,
      memoryLimitFactor: this.options.memoryLimitFactor,
    });
    try {
      const created = await engineCall<{ Id: string }>(this.docker, {
        method: 'POST',
        path: '/containers/create',
        // Only the name goes in the URL; the environment (secrets included) stays in the body.
        query: { name: spec.name },
        body,
        signal,
      });
      return created.Id;
    } catch (error) {
      if (isNetworkTrouble(error)) throw this.containerNetwork.gone(error);
      if (isConflict(error)) {
        throw new DdeError(
          'CONFLICT',
          `A container named ${spec.name} already exists on the engine (${engineMessage(error)}): choose another name, or remove that container first`,
          { field: 'name', cause: error },
        );
      }
      if (isNotFound(error)) {
        throw new DdeError(
          'NOT_FOUND',
          `Image ${spec.image} vanished before the container was created: launch again`,
          {
            field: 'image',
            cause: error,
          },
        );
      }
      throw toDdeError(error, {
        what: `creation of container ${spec.name}`,
        engine: this.engine.url,
        signal,
      });
    }
  }

  private async start(id: string, name: string, signal: AbortSignal | undefined): Promise<void> {
    try {
      await engineCall(this.docker, { method: 'POST', path: `/containers/${id}/start`, signal });
    } catch (error) {
      if (isNotModified(error)) return; // already running
      // The engine looks the network up by name when the container starts, not when it is created.
      if (isNetworkTrouble(error)) throw this.containerNetwork.gone(error);
      throw asLaunchFailure(error, { what: `start of container ${name}`, engine: this.engine.url, signal });
    }
  }

  /** The id of the container named `name` if this launch created it (its answer was lost), else undefined. */
  private async findLaunched(
    name: string,
    launchId: string,
    signal: AbortSignal,
  ): Promise<string | undefined> {
    const container = await this.inspectRaw(name, signal).catch(() => undefined);
    return container?.Config.Labels?.[LAUNCH_LABEL] === launchId ? container.Id : undefined;
  }

  private async waitRemoved(id: string, name: string, signal: AbortSignal | undefined): Promise<void> {
    try {
      await engineCall(this.docker, {
        method: 'POST',
        path: `/containers/${id}/wait`,
        query: { condition: 'removed' },
        signal,
      });
    } catch (error) {
      if (isNotFound(error)) return;
      throw toDdeError(error, { what: `removal of container ${name}`, engine: this.engine.url, signal });
    }
  }

  /** The inspected container named `name` if it is ours; undefined otherwise. */
  private async findOurs(name: string, signal: AbortSignal | undefined): Promise<ContainerJson | undefined> {
    if (typeof name !== 'string' || !isValidName(name)) return undefined;
    const container = await this.inspectRaw(name, signal);
    // The engine also resolves ids and id prefixes: insist on the exact name.
    if (container === undefined || container.Name !== `/${name}` || !isOurs(container, this.namespace)) {
      return undefined;
    }
    return container;
  }

  private async inspectId(id: string, signal: AbortSignal | undefined): Promise<ContainerInfo | undefined> {
    const container = await this.inspectRaw(id, signal);
    return container && this.toInfo(container);
  }

  private async inspectRaw(
    nameOrId: string,
    signal: AbortSignal | undefined,
  ): Promise<ContainerJson | undefined> {
    try {
      return await engineCall<ContainerJson>(this.docker, {
        method: 'GET',
        path: `/containers/${encodeURIComponent(nameOrId)}/json`,
        signal,
      });
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw toDdeError(error, { what: `inspect of container ${nameOrId}`, engine: this.engine.url, signal });
    }
  }

  private toInfo(container: ContainerJson): ContainerInfo | undefined {
    return toContainerInfo(container, this.namespace, this.policy);
  }

  private async call<T>(
    what: string,
    signal: AbortSignal | undefined,
    request: Parameters<typeof engineCall>[1],
  ): Promise<T> {
    try {
      return await engineCall<T>(this.docker, { ...request, signal });
    } catch (error) {
      throw toDdeError(error, { what, engine: this.engine.url, signal });
    }
  }
}

function notFound(name: string): DdeError {
  return new DdeError('NOT_FOUND', `No container named ${name} is managed in this namespace`, {
    field: 'name',
  });
}

function unixSeconds(date: Date): string {
  const millis = date.getTime();
  return `${Math.floor(millis / 1000)}.${String(millis % 1000).padStart(3, '0')}`;
}

import type Dockerode from 'dockerode';
import { removeLabelled } from '../docker.ts';
import type { LogStore } from './logs.ts';
import type { TaskContainer, TaskRecord } from './store.ts';

/**
 * Runs tasks on the Docker Engine and keeps their records in step with it. A loop ticks every
 * {@link TICK_MS}: it lists the emulator's containers once, then advances each live task by one
 * step (provisioning, image check, starting the containers whose dependencies are met, watching
 * for exits, stopping). Each task advances in one place at a time, so a StopTask arriving while
 * containers are being created takes effect on the next tick.
 */

/** The label on every container and volume an emulator creates; its value is the emulator's label. */
export const EMULATOR_LABEL = 'dde-test.ecs-emulator';

const TICK_MS = 150;

/** Faults the runner applies to tasks. */
export interface RunnerFaults {
  /** Images whose "pull" fails. */
  readonly failPull: Set<string>;
}

/** Options of {@link TaskRunner}. */
export interface RunnerOptions {
  readonly docker: Dockerode;
  readonly label: string;
  readonly logs: LogStore;
  readonly faults: RunnerFaults;
  /** Seconds `docker stop` waits for a container without its own `stopTimeout`. */
  readonly stopTimeoutSeconds: number;
}

type Step = 'continue' | 'settled';

/** The task runner of one emulator. */
export class TaskRunner {
  readonly #options: RunnerOptions;
  readonly #live = new Set<TaskRecord>();
  readonly #busy = new Map<TaskRecord, Promise<void>>();
  readonly #streams = new Map<TaskContainer, ReturnType<LogStore['open']>>();
  #timer: NodeJS.Timeout | undefined;
  #tick: Promise<void> | undefined;
  #closed = false;

  constructor(options: RunnerOptions) {
    this.#options = options;
    this.#timer = setInterval(() => {
      this.#tick ??= this.#advanceAll().finally(() => {
        this.#tick = undefined;
      });
    }, TICK_MS);
  }

  /** Starts advancing a new task. */
  add(task: TaskRecord): void {
    if (this.#closed) throw new Error('The ECS emulator is closed');
    this.#live.add(task);
  }

  /** Stops the loop, waits for the steps in flight, and removes every container and volume left. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#tick;
    await Promise.allSettled(this.#busy.values());
    await removeLabelled(this.#options.docker, `${EMULATOR_LABEL}=${this.#options.label}`);
  }

  async #advanceAll(): Promise<void> {
    if (this.#live.size === 0 || this.#closed) return;
    let states: Map<string, string>;
    try {
      const listing = await this.#options.docker.listContainers({
        all: true,
        filters: { label: [`${EMULATOR_LABEL}=${this.#options.label}`] },
      });
      states = new Map(listing.map((container) => [container.Id, container.State]));
    } catch {
      return; // the engine hiccuped: the next tick tries again
    }
    for (const task of this.#live) {
      if (this.#busy.has(task) || this.#closed) continue;
      const step = this.#advance(task, states)
        .catch((error: unknown) => {
          // While starting, an engine error fails the task as the ECS agent would; once it
          // runs (or stops) it is a hiccup of the engine, and the next tick tries again.
          if (task.startedAt !== undefined || task.desiredStatus === 'STOPPED') return;
          stopTask(task, 'TaskFailedToStart', error instanceof Error ? error.message : String(error));
        })
        .finally(() => this.#busy.delete(task));
      this.#busy.set(task, step);
    }
  }

  async #advance(task: TaskRecord, states: ReadonlyMap<string, string>): Promise<void> {
    if (task.desiredStatus === 'STOPPED') return this.#stop(task);
    const now = Date.now();
    if (task.lastStatus === 'PROVISIONING') {
      if (now >= task.provisionedAt) setStatus(task, 'PENDING');
      return;
    }
    if (now < task.pendingUntil) return;
    if (task.pullStartedAt === undefined && !(await this.#pull(task))) return;
    await this.#refresh(task, states);
    // #refresh may have stopped the task: re-read it (the compiler still sees the earlier check).
    if ((task.desiredStatus as TaskRecord['desiredStatus']) === 'STOPPED') return;
    if (task.lastStatus === 'PENDING') {
      while ((await this.#startReady(task)) === 'continue') {}
      if (
        task.desiredStatus === 'RUNNING' &&
        task.containers.every((container) => container.runtimeId !== undefined)
      ) {
        task.startedAt = Date.now();
        setStatus(task, 'RUNNING');
      }
    }
  }

  /** The "pull": every image must be on the engine already (no registry here). */
  async #pull(task: TaskRecord): Promise<boolean> {
    task.pullStartedAt = Date.now();
    for (const container of task.containers) {
      const image = container.definition.image;
      const present =
        !this.#options.faults.failPull.has(image) &&
        (await this.#options.docker
          .getImage(image)
          .inspect()
          .then(
            () => true,
            () => false,
          ));
      if (!present) {
        const reason = `CannotPullContainerError: pull image manifest has been retried 1 time(s): failed to resolve ref ${image}: not found`;
        container.reason = reason;
        stopTask(task, 'TaskFailedToStart', reason);
        return false;
      }
    }
    task.pullStoppedAt = Date.now();
    return true;
  }

  /** Reads the containers' states from the engine listing (and inspects the ones that ended). */
  async #refresh(task: TaskRecord, states: ReadonlyMap<string, string>): Promise<void> {
    const { docker } = this.#options;
    for (const container of task.containers) {
      if (container.runtimeId === undefined || container.lastStatus !== 'RUNNING') continue;
      const state = states.get(container.runtimeId);
      if (state === 'running' || state === 'paused' || state === 'restarting') {
        if (container.definition.healthCheck) {
          const info = await docker.getContainer(container.runtimeId).inspect();
          const health = info.State.Health?.Status;
          container.healthStatus =
            health === 'healthy' ? 'HEALTHY' : health === 'unhealthy' ? 'UNHEALTHY' : 'UNKNOWN';
        }
        continue;
      }
      await this.#ended(task, container);
    }
    const exited = task.containers.find((c) => c.definition.essential && c.lastStatus === 'STOPPED');
    if (exited) stopTask(task, 'EssentialContainerExited', 'Essential container in task exited');
  }

  /** Records how a container ended: its exit code, or that it vanished from the engine. */
  async #ended(task: TaskRecord, container: TaskContainer): Promise<void> {
    if (container.runtimeId === undefined) return;
    const info = await this.#options.docker
      .getContainer(container.runtimeId)
      .inspect()
      .catch((error: { statusCode?: number }) => {
        if (error.statusCode === 404) return undefined;
        throw error;
      });
    if (info?.State.Running) return;
    container.lastStatus = 'STOPPED';
    if (info) {
      container.exitCode = info.State.ExitCode;
      if (info.State.OOMKilled) container.reason = 'OutOfMemoryError: Container killed due to memory usage';
    } else {
      container.reason ??= 'The container was removed from the Docker Engine outside ECS';
    }
    task.version++;
  }

  /** Starts the containers whose dependencies are met; 'continue' when it started one. */
  async #startReady(task: TaskRecord): Promise<Step> {
    for (const container of task.containers) {
      if (container.runtimeId !== undefined || container.lastStatus !== 'PENDING') continue;
      const verdict = dependencyVerdict(task, container);
      if (verdict === 'wait') continue;
      if (verdict !== 'ready') {
        container.lastStatus = 'STOPPED';
        container.reason = verdict;
        stopTask(task, 'TaskFailedToStart', verdict);
        return 'settled';
      }
      await this.#createAndStart(task, container);
      return 'continue';
    }
    return 'settled';
  }

  async #createAndStart(task: TaskRecord, container: TaskContainer): Promise<void> {
    if (this.#closed) throw new Error('The ECS emulator is closing');
    const { docker, label } = this.#options;
    const definition = container.definition;
    const network = networking(task, container);
    const mounts = await Promise.all(
      definition.mountPoints.map(async (mount) => {
        const volume = task.definition.volumes.find((candidate) => candidate.name === mount.sourceVolume);
        if (volume?.hostPath !== undefined) {
          return {
            Type: 'bind',
            Source: volume.hostPath,
            Target: mount.containerPath,
            ReadOnly: mount.readOnly,
          };
        }
        return {
          Type: 'volume',
          Source: await this.#volume(task, mount.sourceVolume),
          Target: mount.containerPath,
          ReadOnly: mount.readOnly,
          // ECS mounts a task volume over the directory and hides what the image has there;
          // Docker would otherwise copy the image's files into an empty named volume.
          VolumeOptions: { NoCopy: true },
        };
      }),
    );
    const memory =
      container.memory ??
      (task.memory !== undefined && task.definition.containers.length === 1
        ? Number(task.memory)
        : undefined);
    const health = definition.healthCheck;
    const body = {
      Image: definition.image,
      ...(container.command ? { Cmd: container.command } : {}),
      ...(definition.entryPoint ? { Entrypoint: definition.entryPoint } : {}),
      Env: [...agentEnvironment(task), ...container.environment].map(({ name, value }) => `${name}=${value}`),
      ...(definition.workingDirectory ? { WorkingDir: definition.workingDirectory } : {}),
      ...(definition.user ? { User: definition.user } : {}),
      Labels: {
        ...definition.dockerLabels,
        [EMULATOR_LABEL]: label,
        [`${EMULATOR_LABEL}.task`]: task.id,
        'com.amazonaws.ecs.task-arn': task.arn,
        'com.amazonaws.ecs.container-name': definition.name,
        'com.amazonaws.ecs.cluster': task.cluster.name,
        'com.amazonaws.ecs.task-definition-family': task.definition.family,
        'com.amazonaws.ecs.task-definition-version': String(task.definition.revision),
      },
      ...(network.exposed ? { ExposedPorts: network.exposed } : {}),
      ...(health
        ? {
            Healthcheck: {
              Test: health.command,
              Interval: health.interval * 1e9,
              Timeout: health.timeout * 1e9,
              Retries: health.retries,
              StartPeriod: health.startPeriod * 1e9,
            },
          }
        : {}),
      HostConfig: {
        NetworkMode: network.mode,
        ...(network.bindings ? { PortBindings: network.bindings } : {}),
        Mounts: mounts,
        ...(memory !== undefined ? { Memory: memory * 1024 * 1024 } : {}),
        ...(container.memoryReservation !== undefined
          ? { MemoryReservation: container.memoryReservation * 1024 * 1024 }
          : {}),
        ...(container.cpu >= 2 ? { CpuShares: container.cpu } : {}),
      },
    };
    const name = `${label}-${task.id.slice(0, 12)}-${definition.name}`;
    let id: string;
    try {
      id = await createContainer(docker, name, body);
    } catch (error) {
      container.reason = `CannotCreateContainerError: ${(error as Error).message}`;
      throw new Error(container.reason);
    }
    container.runtimeId = id;
    const log = definition.logConfiguration;
    if (log?.logDriver === 'awslogs') {
      const prefix = log.options['awslogs-stream-prefix'];
      const stream = this.#options.logs.open(
        log.options['awslogs-group'] ?? '',
        prefix ? `${prefix}/${definition.name}/${task.id}` : id,
      );
      stream.runtimeId = id;
      this.#streams.set(container, stream);
    }
    try {
      await docker.getContainer(id).start();
    } catch (error) {
      container.reason = `CannotStartContainerError: ${(error as Error).message}`;
      throw new Error(container.reason);
    }
    const info = await docker.getContainer(id).inspect();
    container.lastStatus = 'RUNNING';
    const ip = info.NetworkSettings.Networks?.bridge?.IPAddress;
    if (ip) container.ip = ip;
    for (const [port, hosts] of Object.entries(info.NetworkSettings.Ports ?? {})) {
      const [containerPort, protocol] = port.split('/');
      for (const host of hosts ?? []) {
        // One binding per port: the engine may list an IPv6 twin of the 127.0.0.1 one.
        if (host.HostIp !== '127.0.0.1') continue;
        container.networkBindings.push({
          bindIP: host.HostIp,
          containerPort: Number(containerPort),
          hostPort: Number(host.HostPort),
          protocol: protocol ?? 'tcp',
        });
      }
    }
    task.version++;
  }

  /** The task's Docker volume `name`, created on first use. */
  async #volume(task: TaskRecord, name: string): Promise<string> {
    const volumeName = `${this.#options.label}-${task.id}-${name}`;
    await this.#options.docker.createVolume({
      Name: volumeName,
      Labels: { [EMULATOR_LABEL]: this.#options.label, [`${EMULATOR_LABEL}.task`]: task.id },
    });
    return volumeName;
  }

  /** Stops the task's containers (each with its stop timeout), keeps their logs, removes them. */
  async #stop(task: TaskRecord): Promise<void> {
    const { docker } = this.#options;
    const running = task.containers.filter((container) => container.runtimeId !== undefined);
    if (task.lastStatus !== 'DEPROVISIONING') {
      if (running.some((container) => container.lastStatus === 'RUNNING')) setStatus(task, 'STOPPING');
      await Promise.all(
        running.map(async (container) => {
          if (container.lastStatus === 'RUNNING') {
            const t = container.definition.stopTimeout ?? this.#options.stopTimeoutSeconds;
            await docker
              .getContainer(container.runtimeId ?? '')
              .stop({ t })
              .catch(() => {});
            await this.#ended(task, container);
          }
          const stream = this.#streams.get(container);
          if (stream) await this.#options.logs.keep(stream);
          await docker
            .getContainer(container.runtimeId ?? '')
            .remove({ force: true, v: true })
            .catch(() => {});
        }),
      );
      for (const container of task.containers) container.lastStatus = 'STOPPED';
      await this.#removeVolumes(task);
      if (task.network) {
        // The ENI is released on the next tick, as ECS shows DEPROVISIONING for awsvpc tasks.
        setStatus(task, 'DEPROVISIONING');
        return;
      }
    }
    task.stoppedAt = Date.now();
    task.tags = []; // a stopped task's tags vanish on ECS
    setStatus(task, 'STOPPED');
    this.#live.delete(task);
  }

  async #removeVolumes(task: TaskRecord): Promise<void> {
    const { Volumes } = await this.#options.docker.listVolumes({
      filters: { label: [`${EMULATOR_LABEL}.task=${task.id}`] },
    });
    for (const volume of Volumes ?? []) {
      await this.#options.docker
        .getVolume(volume.Name)
        .remove()
        .catch(() => {});
    }
  }
}

/** Sets the task's desired status to STOPPED with the first stop code and reason it gets. */
export function stopTask(
  task: TaskRecord,
  stopCode: NonNullable<TaskRecord['stopCode']>,
  reason: string,
): void {
  if (task.desiredStatus === 'STOPPED') return;
  task.desiredStatus = 'STOPPED';
  task.stoppingAt = Date.now();
  task.stopCode = stopCode;
  task.stoppedReason = reason;
  task.version++;
}

function setStatus(task: TaskRecord, status: TaskRecord['lastStatus']): void {
  task.lastStatus = status;
  task.version++;
}

/** What the ECS agent sets in every container (the task's own environment comes after and wins). */
function agentEnvironment(task: TaskRecord): { name: string; value: string }[] {
  const region = task.cluster.arn.split(':')[3] ?? '';
  return [
    { name: 'AWS_EXECUTION_ENV', value: task.launchType === 'FARGATE' ? 'AWS_ECS_FARGATE' : 'AWS_ECS_EC2' },
    { name: 'AWS_REGION', value: region },
    { name: 'AWS_DEFAULT_REGION', value: region },
  ];
}

/** 'ready', 'wait', or why the container can never start. */
function dependencyVerdict(task: TaskRecord, container: TaskContainer): 'ready' | 'wait' | string {
  for (const { containerName, condition } of container.definition.dependsOn) {
    const target = task.containers.find((candidate) => candidate.definition.name === containerName);
    if (!target) return `Container '${containerName}' is missing`;
    const name = container.definition.name;
    if (target.lastStatus === 'PENDING') return 'wait';
    if (condition === 'START') continue;
    if (condition === 'HEALTHY') {
      if (target.healthStatus === 'HEALTHY') continue;
      if (target.lastStatus === 'STOPPED' || target.healthStatus === 'UNHEALTHY') {
        return `DependencyConditionNotMet: container '${containerName}' did not become HEALTHY, so '${name}' cannot start`;
      }
      return 'wait';
    }
    if (target.lastStatus !== 'STOPPED') return 'wait';
    if (condition === 'SUCCESS' && target.exitCode !== 0) {
      return `DependencyConditionNotMet: container '${containerName}' exited with code ${target.exitCode ?? 'unknown'} ${target.reason ? `(${target.reason}) ` : ''}before '${name}' could start (condition SUCCESS)`;
    }
  }
  return 'ready';
}

/**
 * How a container joins the network: awsvpc tasks share the namespace of their first started
 * essential container (containers started before it, such as init containers, get their own
 * bridge address); bridge tasks publish their port mappings on 127.0.0.1 only.
 */
function networking(
  task: TaskRecord,
  container: TaskContainer,
): {
  mode: string;
  exposed?: Record<string, object>;
  bindings?: Record<string, { HostIp: string; HostPort: string }[]>;
} {
  const mode = task.definition.networkMode;
  if (mode === 'none') return { mode: 'none' };
  if (mode === 'awsvpc') {
    const holder = task.containers.find(
      (candidate) =>
        candidate.definition.essential && candidate.ip !== undefined && candidate.lastStatus === 'RUNNING',
    );
    return holder?.runtimeId ? { mode: `container:${holder.runtimeId}` } : { mode: 'bridge' };
  }
  const mappings = container.definition.portMappings;
  if (mappings.length === 0) return { mode: 'bridge' };
  return {
    mode: 'bridge',
    exposed: Object.fromEntries(mappings.map((m) => [`${m.containerPort}/${m.protocol}`, {}])),
    bindings: Object.fromEntries(
      mappings.map((m) => [
        `${m.containerPort}/${m.protocol}`,
        [{ HostIp: '127.0.0.1', HostPort: m.hostPort ? String(m.hostPort) : '' }],
      ]),
    ),
  };
}

/**
 * POST /containers/create with the options as the JSON body only: dockerode's own
 * createContainer also copies them into the URL, environment included.
 */
function createContainer(docker: Dockerode, name: string, body: object): Promise<string> {
  return new Promise((resolve, reject) => {
    docker.modem.dial(
      {
        path: '/containers/create?',
        method: 'POST',
        options: { _query: { name }, _body: body },
        statusCodes: {
          200: true,
          201: true,
          400: 'bad parameter',
          404: 'no such image',
          409: 'conflict',
          500: 'server error',
        },
      },
      (error, result) => {
        if (error) reject(error);
        else resolve((result as { Id: string }).Id);
      },
    );
  });
}

import { randomBytes, randomUUID } from 'node:crypto';
import { AwsError, clientError, invalidParameter } from './protocol.ts';

/**
 * What the emulator knows: clusters, its one container instance, task definitions and tasks,
 * addressed by name, id or ARN as ECS accepts them. No Docker here: the runner keeps the tasks'
 * containers in step with these records.
 */

/** A resource tag. */
export interface Tag {
  readonly key: string;
  readonly value: string;
}

/** A container definition after validation, defaults applied. */
export interface ContainerDefinition {
  readonly name: string;
  readonly image: string;
  readonly essential: boolean;
  readonly command?: readonly string[];
  readonly entryPoint?: readonly string[];
  readonly environment: readonly { readonly name: string; readonly value: string }[];
  readonly portMappings: readonly {
    readonly containerPort: number;
    readonly hostPort?: number;
    readonly protocol: 'tcp' | 'udp';
  }[];
  readonly memory?: number;
  readonly memoryReservation?: number;
  readonly cpu: number;
  readonly dependsOn: readonly { readonly containerName: string; readonly condition: DependencyCondition }[];
  readonly mountPoints: readonly {
    readonly sourceVolume: string;
    readonly containerPath: string;
    readonly readOnly: boolean;
  }[];
  readonly logConfiguration?: {
    readonly logDriver: string;
    readonly options: Readonly<Record<string, string>>;
  };
  readonly workingDirectory?: string;
  readonly user?: string;
  readonly stopTimeout?: number;
  readonly healthCheck?: {
    readonly command: readonly string[];
    readonly interval: number;
    readonly timeout: number;
    readonly retries: number;
    readonly startPeriod: number;
  };
  readonly dockerLabels: Readonly<Record<string, string>>;
}

/** The conditions of `dependsOn`. */
export type DependencyCondition = 'START' | 'COMPLETE' | 'SUCCESS' | 'HEALTHY';

/** A task volume: a Docker volume per task, or a host path on the EC2 instance. */
export interface VolumeDefinition {
  readonly name: string;
  readonly hostPath?: string;
}

/** One registered revision. */
export interface TaskDefinitionRecord {
  readonly arn: string;
  readonly family: string;
  readonly revision: number;
  status: 'ACTIVE' | 'INACTIVE' | 'DELETE_IN_PROGRESS';
  readonly networkMode: 'awsvpc' | 'bridge' | 'none';
  readonly compatibilities: readonly string[];
  readonly containers: readonly ContainerDefinition[];
  readonly volumes: readonly VolumeDefinition[];
  readonly cpu?: string;
  readonly memory?: string;
  readonly executionRoleArn?: string;
  readonly taskRoleArn?: string;
  /** The definition as DescribeTaskDefinition answers it (status and dates added on output). */
  readonly description: Readonly<Record<string, unknown>>;
  tags: Tag[];
  readonly registeredAt: number;
  deregisteredAt?: number;
  deleteRequestedAt?: number;
}

/** The emulator's one EC2 container instance. */
export interface ContainerInstanceRecord {
  readonly arn: string;
  readonly id: string;
  readonly ec2InstanceId: string;
  readonly registeredAt: number;
  readonly cpu: number;
  readonly memory: number;
  tags: Tag[];
}

/** A cluster. */
export interface ClusterRecord {
  readonly name: string;
  readonly arn: string;
  tags: Tag[];
  readonly instances: ContainerInstanceRecord[];
}

/** ECS's task states, in order. */
export type TaskStatus = 'PROVISIONING' | 'PENDING' | 'RUNNING' | 'STOPPING' | 'DEPROVISIONING' | 'STOPPED';

/** A container of a task, as the runner advances it. */
export interface TaskContainer {
  readonly definition: ContainerDefinition;
  readonly arn: string;
  readonly environment: readonly { readonly name: string; readonly value: string }[];
  readonly command?: readonly string[];
  /** Limits after `containerOverrides`: cpu units, memory and reservation in MiB. */
  readonly cpu: number;
  readonly memory?: number;
  readonly memoryReservation?: number;
  lastStatus: 'PENDING' | 'RUNNING' | 'STOPPED';
  /** The Docker container id once created. */
  runtimeId?: string;
  exitCode?: number;
  reason?: string;
  healthStatus: 'HEALTHY' | 'UNHEALTHY' | 'UNKNOWN';
  /** The container's own bridge address (undefined when it shares another's namespace). */
  ip?: string;
  networkBindings: { bindIP: string; containerPort: number; hostPort: number; protocol: string }[];
}

/** A task. */
export interface TaskRecord {
  readonly id: string;
  readonly arn: string;
  readonly cluster: ClusterRecord;
  readonly definition: TaskDefinitionRecord;
  readonly launchType: 'FARGATE' | 'EC2';
  readonly instance?: ContainerInstanceRecord;
  readonly network?: {
    readonly subnet: string;
    readonly securityGroups: readonly string[];
    readonly eniId: string;
    readonly attachmentId: string;
    readonly mac: string;
    readonly assignPublicIp: boolean;
  };
  readonly containers: TaskContainer[];
  readonly overrides: Readonly<Record<string, unknown>>;
  readonly cpu?: string;
  readonly memory?: string;
  readonly startedBy?: string;
  readonly group: string;
  tags: Tag[];
  lastStatus: TaskStatus;
  desiredStatus: 'RUNNING' | 'STOPPED';
  readonly createdAt: number;
  /** Faults: DescribeTasks answers MISSING until then; the task waits in each phase until then. */
  readonly missingUntil: number;
  readonly provisionedAt: number;
  readonly pendingUntil: number;
  pullStartedAt?: number;
  pullStoppedAt?: number;
  startedAt?: number;
  stoppingAt?: number;
  stoppedAt?: number;
  stopCode?: 'TaskFailedToStart' | 'EssentialContainerExited' | 'UserInitiated';
  stoppedReason?: string;
  /** Bumped on every change, as ECS's `version`. */
  version: number;
}

/** Random lower-case hex of `length` characters. */
export function hex(length: number): string {
  return randomBytes(Math.ceil(length / 2))
    .toString('hex')
    .slice(0, length);
}

/** The state of one emulator. */
export class EcsStore {
  readonly region: string;
  readonly accountId: string;
  readonly clusters: Map<string, ClusterRecord> = new Map();
  /** Families, each with its revisions by number (revision numbers never repeat). */
  readonly families: Map<string, Map<number, TaskDefinitionRecord>> = new Map();
  readonly lastRevision: Map<string, number> = new Map();
  /** Tasks in creation order. */
  readonly tasks: Map<string, TaskRecord> = new Map();
  /** RunTask client tokens: the request's fingerprint and the tasks it started. */
  readonly clientTokens: Map<
    string,
    { readonly fingerprint: string; readonly tasks: readonly TaskRecord[] }
  > = new Map();

  /** How long a stopped task stays describable (ECS: at least an hour). */
  readonly stoppedRetentionMs: number;

  constructor(region: string, accountId: string, stoppedRetentionMs = 3_600_000) {
    this.region = region;
    this.accountId = accountId;
    this.stoppedRetentionMs = stoppedRetentionMs;
  }

  /** Forgets the tasks stopped longer ago than the retention: DescribeTasks then answers MISSING. */
  forgetExpired(now = Date.now()): void {
    for (const [id, task] of this.tasks) {
      if (task.stoppedAt !== undefined && now - task.stoppedAt > this.stoppedRetentionMs)
        this.tasks.delete(id);
    }
  }

  /** `arn:aws:ecs:<region>:<account>:<resource>`. */
  arn(resource: string): string {
    return `arn:aws:ecs:${this.region}:${this.accountId}:${resource}`;
  }

  /** Creates the cluster unless it exists (CreateCluster is idempotent). */
  createCluster(name: string, tags: Tag[] = []): ClusterRecord {
    const existing = this.clusters.get(name);
    if (existing) return existing;
    const cluster: ClusterRecord = { name, arn: this.arn(`cluster/${name}`), tags, instances: [] };
    this.clusters.set(name, cluster);
    return cluster;
  }

  /** Registers a container instance (an "EC2 instance" that is this host) in `cluster`. */
  addInstance(cluster: ClusterRecord, resources: { cpu: number; memory: number }): ContainerInstanceRecord {
    const id = hex(32);
    const instance: ContainerInstanceRecord = {
      id,
      arn: this.arn(`container-instance/${cluster.name}/${id}`),
      ec2InstanceId: `i-${hex(17)}`,
      registeredAt: Date.now(),
      ...resources,
      tags: [],
    };
    cluster.instances.push(instance);
    return instance;
  }

  /** The cluster named or ARN'd by `reference` (`default` when absent), or ClusterNotFoundException. */
  cluster(reference: string | undefined): ClusterRecord {
    const name = clusterName(reference ?? 'default');
    const cluster = name === undefined ? undefined : this.clusters.get(name);
    if (!cluster) throw new AwsError('ClusterNotFoundException', 'Cluster not found.');
    return cluster;
  }

  /** The cluster if it exists. */
  findCluster(reference: string): ClusterRecord | undefined {
    const name = clusterName(reference);
    return name === undefined ? undefined : this.clusters.get(name);
  }

  /** A new revision of `family`. */
  nextRevision(family: string): number {
    const revision = (this.lastRevision.get(family) ?? 0) + 1;
    this.lastRevision.set(family, revision);
    return revision;
  }

  /** Stores a registered revision. */
  addTaskDefinition(record: TaskDefinitionRecord): void {
    let revisions = this.families.get(record.family);
    if (!revisions) {
      revisions = new Map();
      this.families.set(record.family, revisions);
    }
    revisions.set(record.revision, record);
  }

  /**
   * The revision `reference` names: `family` (its latest ACTIVE revision), `family:revision`,
   * or the ARN; undefined when there is none.
   */
  findTaskDefinition(reference: string): TaskDefinitionRecord | undefined {
    const match = /^(?:arn:aws[\w-]*:ecs:[\w-]+:\d+:task-definition\/)?([A-Za-z0-9_-]+)(?::(\d+))?$/.exec(
      reference,
    );
    if (!match?.[1]) return undefined;
    const revisions = this.families.get(match[1]);
    if (!revisions) return undefined;
    if (match[2] !== undefined) return revisions.get(Number(match[2]));
    return [...revisions.values()].filter((definition) => definition.status === 'ACTIVE').at(-1);
  }

  /** Like {@link findTaskDefinition}, with ECS's ClientException when there is none. */
  taskDefinition(reference: string): TaskDefinitionRecord {
    const definition = this.findTaskDefinition(reference);
    if (!definition) throw clientError('Unable to describe task definition.');
    return definition;
  }

  /** Every revision, in registration order. */
  allTaskDefinitions(): TaskDefinitionRecord[] {
    return [...this.families.values()]
      .flatMap((revisions) => [...revisions.values()])
      .sort((a, b) => a.registeredAt - b.registeredAt || a.revision - b.revision);
  }

  /** The task named by id or ARN in `cluster`, if any. */
  findTask(cluster: ClusterRecord, reference: string): TaskRecord | undefined {
    this.forgetExpired();
    const id = reference.includes('/') ? reference.slice(reference.lastIndexOf('/') + 1) : reference;
    const task = this.tasks.get(id);
    if (!task || task.cluster !== cluster) return undefined;
    if (reference.startsWith('arn:') && reference !== task.arn) return undefined;
    return task;
  }

  /** A new task's identity. */
  newTaskIdentity(cluster: ClusterRecord): { id: string; arn: string } {
    const id = hex(32);
    return { id, arn: this.arn(`task/${cluster.name}/${id}`) };
  }

  /** A container's ARN within a task. */
  containerArn(cluster: ClusterRecord, taskId: string): string {
    return this.arn(`container/${cluster.name}/${taskId}/${randomUUID()}`);
  }

  /** The container instance of `cluster` named by id or ARN. */
  findInstance(cluster: ClusterRecord, reference: string): ContainerInstanceRecord | undefined {
    return cluster.instances.find((instance) => instance.arn === reference || instance.id === reference);
  }

  /** What the live tasks on `instance` reserve: cpu units, memory MiB and fixed host ports. */
  instanceUsage(instance: ContainerInstanceRecord): {
    cpu: number;
    memory: number;
    ports: Set<number>;
    running: number;
    pending: number;
  } {
    const usage = { cpu: 0, memory: 0, ports: new Set<number>(), running: 0, pending: 0 };
    for (const task of this.tasks.values()) {
      if (task.instance !== instance || task.lastStatus === 'STOPPED') continue;
      if (task.lastStatus === 'RUNNING') usage.running++;
      else usage.pending++;
      const demand = taskDemand(task.definition);
      usage.cpu += demand.cpu;
      usage.memory += demand.memory;
      for (const port of demand.ports) usage.ports.add(port);
    }
    return usage;
  }

  /** The record an ARN of TagResource & co names: cluster, task definition, task or container instance. */
  taggable(resourceArn: string): { tags: Tag[] } | TaskRecord {
    const match = /^arn:aws[\w-]*:ecs:[\w-]+:\d+:([a-z-]+)\/(.+)$/.exec(resourceArn);
    const kind = match?.[1];
    const rest = match?.[2] ?? '';
    let found: { tags: Tag[] } | TaskRecord | undefined;
    if (kind === 'cluster') found = this.clusters.get(rest);
    else if (kind === 'task-definition') found = this.findTaskDefinition(resourceArn);
    else if (kind === 'task') {
      const cluster = this.clusters.get(rest.split('/')[0] ?? '');
      found = cluster ? this.findTask(cluster, resourceArn) : undefined;
    } else if (kind === 'container-instance') {
      const cluster = this.clusters.get(rest.split('/')[0] ?? '');
      found = cluster ? this.findInstance(cluster, resourceArn) : undefined;
    } else {
      throw invalidParameter(`The ARN provided is invalid: ${resourceArn}`);
    }
    if (!found)
      throw new AwsError('ResourceNotFoundException', `The specified resource was not found: ${resourceArn}`);
    return found;
  }
}

/** What a task of `definition` reserves on an EC2 instance (ECS's placement arithmetic). */
export function taskDemand(definition: TaskDefinitionRecord): {
  cpu: number;
  memory: number;
  ports: number[];
} {
  const containerMemory = definition.containers.reduce(
    (sum, container) => sum + (container.memoryReservation ?? container.memory ?? 0),
    0,
  );
  const containerCpu = definition.containers.reduce((sum, container) => sum + container.cpu, 0);
  return {
    cpu: definition.cpu === undefined ? containerCpu : Number(definition.cpu),
    memory: definition.memory === undefined ? containerMemory : Number(definition.memory),
    ports: definition.containers.flatMap((container) =>
      container.portMappings.flatMap((mapping) => (mapping.hostPort ? [mapping.hostPort] : [])),
    ),
  };
}

/** The name in a cluster reference (name or ARN). */
function clusterName(reference: string): string | undefined {
  if (!reference.startsWith('arn:')) return reference;
  return /^arn:aws[\w-]*:ecs:[\w-]+:\d+:cluster\/(.+)$/.exec(reference)?.[1];
}

/** Validates tags as ECS does (50 per resource, key 1-128, value 0-256, no `aws:` prefix). */
export function validTags(tags: readonly unknown[], existing: readonly Tag[] = []): Tag[] {
  const result = new Map(existing.map((tag) => [tag.key, tag.value]));
  for (const tag of tags) {
    const { key, value } = (tag ?? {}) as { key?: unknown; value?: unknown };
    if (typeof key !== 'string' || key.length < 1 || key.length > 128) {
      throw invalidParameter('Tag keys must be between 1 and 128 characters.');
    }
    if (value !== undefined && (typeof value !== 'string' || value.length > 256)) {
      throw invalidParameter(`The value of tag '${key}' must be at most 256 characters.`);
    }
    if (key.toLowerCase().startsWith('aws:'))
      throw invalidParameter(`Tag key '${key}' uses the reserved prefix aws:.`);
    result.set(key, (value as string | undefined) ?? '');
  }
  if (result.size > 50) throw invalidParameter('The number of tags must not exceed 50.');
  return [...result].map(([key, value]) => ({ key, value }));
}

import {
  clientError,
  epochSeconds,
  type Input,
  invalidParameter,
  objects,
  optionalBoolean,
  optionalNumber,
  optionalObject,
  optionalString,
  page,
  requiredString,
  stringList,
} from './protocol.ts';
import {
  type ContainerDefinition,
  type DependencyCondition,
  type EcsStore,
  type TaskDefinitionRecord,
  type VolumeDefinition,
  validTags,
} from './store.ts';

/** The task definition operations: Register, Describe, List, Deregister, DeleteTaskDefinitions. */

/** Fargate's valid (cpu units -> memory MiB) combinations. */
const FARGATE_MEMORY: Readonly<Record<number, readonly number[]>> = {
  256: [512, 1024, 2048],
  512: range(1024, 4096, 1024),
  1024: range(2048, 8192, 1024),
  2048: range(4096, 16384, 1024),
  4096: range(8192, 30720, 1024),
  8192: range(16384, 61440, 4096),
  16384: range(32768, 122880, 8192),
};

function range(from: number, to: number, step: number): number[] {
  const values: number[] = [];
  for (let value = from; value <= to; value += step) values.push(value);
  return values;
}

/** Task-level cpu/memory as ECS takes them: a number as a string, or `1 vCPU` / `2 GB`. */
function taskSize(value: string | undefined, unit: 'vCPU' | 'GB', field: string): string | undefined {
  if (value === undefined) return undefined;
  const plain = /^\d+$/.exec(value.trim());
  if (plain) return plain[0];
  const scaled = new RegExp(`^(\\d+(?:\\.\\d+)?)\\s*${unit}$`, 'i').exec(value.trim());
  if (scaled?.[1]) return String(Math.round(Number(scaled[1]) * 1024));
  throw clientError(`Invalid '${field}' setting for task.`);
}

const CONDITIONS: readonly DependencyCondition[] = ['START', 'COMPLETE', 'SUCCESS', 'HEALTHY'];

function containerDefinition(input: Input, index: number): ContainerDefinition {
  const name = requiredString(input, 'name');
  if (!/^[A-Za-z0-9_-]{1,255}$/.test(name)) {
    throw clientError(`Container.name contains invalid characters: '${name}'.`);
  }
  const image = optionalString(input, 'image');
  if (!image) throw clientError(`Container.image should not be null or empty (container ${index}).`);
  const environment = objects(input, 'environment').map((pair) => ({
    name: requiredString(pair, 'name'),
    value: optionalString(pair, 'value') ?? '',
  }));
  const portMappings = objects(input, 'portMappings').map((mapping) => {
    const containerPort = optionalNumber(mapping, 'containerPort');
    if (containerPort === undefined || containerPort < 1 || containerPort > 65535) {
      throw clientError(`Invalid 'containerPort' setting for container '${name}'.`);
    }
    const hostPort = optionalNumber(mapping, 'hostPort');
    const protocol = optionalString(mapping, 'protocol') ?? 'tcp';
    if (protocol !== 'tcp' && protocol !== 'udp')
      throw clientError(`Invalid 'protocol' setting for container '${name}'.`);
    return { containerPort, protocol, hostPort } as const;
  });
  const dependsOn = objects(input, 'dependsOn').map((dependency) => {
    const condition = requiredString(dependency, 'condition') as DependencyCondition;
    if (!CONDITIONS.includes(condition)) {
      throw clientError(`Invalid dependency condition '${condition}' for container '${name}'.`);
    }
    return { containerName: requiredString(dependency, 'containerName'), condition };
  });
  const mountPoints = objects(input, 'mountPoints').map((mount) => ({
    sourceVolume: requiredString(mount, 'sourceVolume'),
    containerPath: requiredString(mount, 'containerPath'),
    readOnly: optionalBoolean(mount, 'readOnly') ?? false,
  }));
  const log = optionalObject(input, 'logConfiguration');
  const health = optionalObject(input, 'healthCheck');
  const labels = optionalObject(input, 'dockerLabels') ?? {};
  const memory = optionalNumber(input, 'memory');
  const memoryReservation = optionalNumber(input, 'memoryReservation');
  if (memory !== undefined && memory < 6) {
    throw clientError(`Invalid 'memory' setting for container '${name}'. Memory should be at least 6 MiB.`);
  }
  if (memory !== undefined && memoryReservation !== undefined && memoryReservation > memory) {
    throw clientError(
      `Invalid 'memoryReservation' setting for container '${name}'. memoryReservation must not exceed memory.`,
    );
  }
  const optional = {
    command: input.command === undefined ? undefined : stringList(input, 'command'),
    entryPoint: input.entryPoint === undefined ? undefined : stringList(input, 'entryPoint'),
    memory,
    memoryReservation,
    workingDirectory: optionalString(input, 'workingDirectory'),
    user: optionalString(input, 'user'),
    stopTimeout: optionalNumber(input, 'stopTimeout'),
    logConfiguration: log && {
      logDriver: requiredString(log, 'logDriver'),
      options: Object.fromEntries(
        Object.entries(optionalObject(log, 'options') ?? {}).map(([k, v]) => [k, String(v)]),
      ),
    },
    healthCheck: health && {
      command: stringList(health, 'command'),
      interval: optionalNumber(health, 'interval') ?? 30,
      timeout: optionalNumber(health, 'timeout') ?? 5,
      retries: optionalNumber(health, 'retries') ?? 3,
      startPeriod: optionalNumber(health, 'startPeriod') ?? 0,
    },
  };
  return {
    name,
    image,
    essential: optionalBoolean(input, 'essential') ?? true,
    environment,
    portMappings,
    cpu: optionalNumber(input, 'cpu') ?? 0,
    dependsOn,
    mountPoints,
    dockerLabels: Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, String(v)])),
    ...Object.fromEntries(Object.entries(optional).filter(([, value]) => value !== undefined)),
  };
}

/** Checks what ECS checks across a definition's containers, volumes and compatibilities. */
function checkDefinition(
  containers: readonly ContainerDefinition[],
  volumes: readonly VolumeDefinition[],
  settings: {
    networkMode: string;
    fargate: boolean;
    cpu?: string;
    memory?: string;
    executionRoleArn?: string;
  },
): void {
  if (containers.length === 0) throw clientError('Container list cannot be empty.');
  if (containers.length > 10) throw clientError('Too many containers: a task definition holds at most 10.');
  const names = new Set<string>();
  for (const container of containers) {
    if (names.has(container.name)) throw clientError(`Duplicate container name '${container.name}'.`);
    names.add(container.name);
  }
  if (!containers.some((container) => container.essential)) {
    throw clientError('A task definition must have at least one essential container.');
  }
  const byName = new Map(containers.map((container) => [container.name, container]));
  for (const container of containers) {
    if (
      settings.memory === undefined &&
      container.memory === undefined &&
      container.memoryReservation === undefined
    ) {
      throw clientError(
        `Invalid setting for container '${container.name}'. At least one of 'memory' or 'memoryReservation' must be specified.`,
      );
    }
    for (const dependency of container.dependsOn) {
      const target = byName.get(dependency.containerName);
      if (!target || target === container) {
        throw clientError(
          `Container '${container.name}' depends on '${dependency.containerName}', which is not another container of this task definition.`,
        );
      }
      if ((dependency.condition === 'COMPLETE' || dependency.condition === 'SUCCESS') && target.essential) {
        throw clientError(
          `Container '${target.name}' is essential and cannot be the target of a ${dependency.condition} dependency: mark it "essential": false.`,
        );
      }
      if (dependency.condition === 'HEALTHY' && !target.healthCheck) {
        throw clientError(
          `Container '${target.name}' has no healthCheck, so a HEALTHY dependency on it can never be met.`,
        );
      }
    }
    for (const mount of container.mountPoints) {
      if (!volumes.some((volume) => volume.name === mount.sourceVolume)) {
        throw clientError(
          `Invalid 'mountPoints' setting for container '${container.name}': unknown volume '${mount.sourceVolume}'.`,
        );
      }
    }
    for (const mapping of container.portMappings) {
      if (
        settings.networkMode === 'awsvpc' &&
        mapping.hostPort !== undefined &&
        mapping.hostPort !== mapping.containerPort
      ) {
        throw clientError(
          'When networkMode=awsvpc, the host ports and container ports in port mappings must match.',
        );
      }
    }
    const log = container.logConfiguration;
    if (log?.logDriver === 'awslogs') {
      if (!log.options['awslogs-group'])
        throw clientError(
          `The awslogs log driver of container '${container.name}' needs the option awslogs-group.`,
        );
      if (settings.fargate && !settings.executionRoleArn) {
        throw clientError(
          'Fargate requires task definition to have execution role ARN to support log driver awslogs.',
        );
      }
    } else if (log && settings.fargate && !['awslogs', 'awsfirelens', 'splunk'].includes(log.logDriver)) {
      throw clientError(`Log driver ${log.logDriver} is not supported on Fargate.`);
    }
  }
  if (settings.fargate) {
    if (settings.networkMode !== 'awsvpc') {
      throw clientError('Fargate only supports network mode ‘awsvpc’.');
    }
    if (settings.cpu === undefined || settings.memory === undefined) {
      throw clientError("Fargate requires that 'cpu' and 'memory' be defined at the task level.");
    }
    const valid = FARGATE_MEMORY[Number(settings.cpu)];
    if (!valid?.includes(Number(settings.memory))) {
      throw clientError(
        `No Fargate configuration exists for given values: ${settings.cpu} CPU, ${settings.memory} memory. See the Amazon ECS documentation for the valid combinations.`,
      );
    }
    if (volumes.some((volume) => volume.hostPath !== undefined)) {
      throw clientError('Host volumes are not supported on Fargate.');
    }
  }
}

/** RegisterTaskDefinition. */
export function registerTaskDefinition(store: EcsStore, input: Input): unknown {
  const family = requiredString(input, 'family');
  if (!/^[A-Za-z0-9_-]{1,255}$/.test(family)) {
    throw clientError(
      'Family contains invalid characters: up to 255 letters, numbers, hyphens and underscores.',
    );
  }
  const containers = objects(input, 'containerDefinitions').map(containerDefinition);
  const volumes = objects(input, 'volumes').map((volume): VolumeDefinition => {
    const name = requiredString(volume, 'name');
    const hostPath = optionalString(optionalObject(volume, 'host') ?? {}, 'sourcePath');
    if (
      volume.efsVolumeConfiguration !== undefined ||
      volume.fsxWindowsFileServerVolumeConfiguration !== undefined
    ) {
      throw clientError(`Volume '${name}': EFS and FSx volumes are not available in the ECS emulator.`);
    }
    return hostPath === undefined ? { name } : { name, hostPath };
  });
  const compatibilities = stringList(input, 'requiresCompatibilities');
  const fargate = compatibilities.includes('FARGATE');
  const networkMode = optionalString(input, 'networkMode') ?? 'bridge';
  if (networkMode === 'host')
    throw clientError(
      'networkMode host is not available in the ECS emulator (it would publish on every interface).',
    );
  if (!['awsvpc', 'bridge', 'none'].includes(networkMode))
    throw clientError(`Invalid networkMode '${networkMode}'.`);
  const cpu = taskSize(optionalString(input, 'cpu'), 'vCPU', 'cpu');
  const memory = taskSize(optionalString(input, 'memory'), 'GB', 'memory');
  const executionRoleArn = optionalString(input, 'executionRoleArn');
  const taskRoleArn = optionalString(input, 'taskRoleArn');
  checkDefinition(containers, volumes, {
    networkMode,
    fargate,
    cpu,
    memory,
    executionRoleArn,
  });
  const tags = validTags([...(input.tags === undefined ? [] : objects(input, 'tags'))]);
  const revision = store.nextRevision(family);
  const arn = store.arn(`task-definition/${family}:${revision}`);
  const description: Record<string, unknown> = {
    taskDefinitionArn: arn,
    family,
    revision,
    containerDefinitions: input.containerDefinitions,
    volumes: input.volumes ?? [],
    networkMode,
    requiresCompatibilities: compatibilities,
    compatibilities: fargate ? ['EC2', 'FARGATE'] : ['EC2'],
    requiresAttributes: [],
    placementConstraints: [],
    cpu,
    memory,
    executionRoleArn,
    taskRoleArn,
    runtimePlatform: input.runtimePlatform,
    ephemeralStorage: input.ephemeralStorage,
    registeredBy: `arn:aws:iam::${store.accountId}:user/ecs-emulator`,
  };
  const record: TaskDefinitionRecord = {
    arn,
    family,
    revision,
    status: 'ACTIVE',
    networkMode: networkMode as TaskDefinitionRecord['networkMode'],
    compatibilities,
    containers,
    volumes,
    cpu,
    memory,
    executionRoleArn,
    taskRoleArn,
    description,
    tags,
    registeredAt: Date.now(),
  };
  store.addTaskDefinition(record);
  return { taskDefinition: describeDefinition(record), ...(tags.length > 0 ? { tags } : {}) };
}

/** The definition as the API answers it. */
export function describeDefinition(record: TaskDefinitionRecord): unknown {
  return {
    ...record.description,
    status: record.status,
    registeredAt: epochSeconds(record.registeredAt),
    deregisteredAt: epochSeconds(record.deregisteredAt),
    deleteRequestedAt: epochSeconds(record.deleteRequestedAt),
  };
}

/** DescribeTaskDefinition (`include: ['TAGS']` adds the tags). */
export function describeTaskDefinition(store: EcsStore, input: Input): unknown {
  const record = store.taskDefinition(requiredString(input, 'taskDefinition'));
  const tags = stringList(input, 'include').includes('TAGS') ? { tags: record.tags } : {};
  return { taskDefinition: describeDefinition(record), ...tags };
}

/** ListTaskDefinitions: `familyPrefix` is the full family name, as on ECS; `status` ACTIVE by default. */
export function listTaskDefinitions(store: EcsStore, input: Input): unknown {
  const family = optionalString(input, 'familyPrefix');
  const status = optionalString(input, 'status') ?? 'ACTIVE';
  const sort = optionalString(input, 'sort') ?? 'ASC';
  let definitions = store
    .allTaskDefinitions()
    .filter(
      (definition) => definition.status === status && (family === undefined || definition.family === family),
    );
  if (sort === 'DESC') definitions = definitions.reverse();
  const { items, nextToken } = page(definitions, input, 100);
  return {
    taskDefinitionArns: items.map((definition) => definition.arn),
    ...(nextToken ? { nextToken } : {}),
  };
}

/** A revision named with its revision number (family alone is refused, as ECS does). */
function revisionReference(store: EcsStore, reference: string): TaskDefinitionRecord | undefined {
  if (!/:\d+$/.test(reference))
    throw clientError(`The task definition '${reference}' must name a revision (family:revision or ARN).`);
  return store.findTaskDefinition(reference);
}

/** DeregisterTaskDefinition: ACTIVE -> INACTIVE (running tasks keep running). */
export function deregisterTaskDefinition(store: EcsStore, input: Input): unknown {
  const record = revisionReference(store, requiredString(input, 'taskDefinition'));
  if (!record || record.status === 'DELETE_IN_PROGRESS')
    throw clientError('The specified task definition does not exist.');
  if (record.status === 'ACTIVE') {
    record.status = 'INACTIVE';
    record.deregisteredAt = Date.now();
  }
  return { taskDefinition: describeDefinition(record) };
}

/** DeleteTaskDefinitions: INACTIVE revisions only, at most 10 per call; the others in `failures`. */
export function deleteTaskDefinitions(store: EcsStore, input: Input): unknown {
  const references = stringList(input, 'taskDefinitions');
  if (references.length === 0 || references.length > 10) {
    throw invalidParameter('taskDefinitions must hold between 1 and 10 task definitions.');
  }
  const deleted: unknown[] = [];
  const failures: unknown[] = [];
  for (const reference of references) {
    const record = /:\d+$/.test(reference) ? store.findTaskDefinition(reference) : undefined;
    if (!record) {
      failures.push({
        arn: reference,
        reason: 'TASK_DEFINITION_NOT_FOUND',
        detail: 'The specified task definition does not exist.',
      });
    } else if (record.status === 'ACTIVE') {
      failures.push({
        arn: record.arn,
        reason:
          'The specified task definition is still in ACTIVE status. Please deregister the target and try again.',
      });
    } else {
      if (record.status === 'INACTIVE') {
        record.status = 'DELETE_IN_PROGRESS';
        record.deleteRequestedAt = Date.now();
      }
      deleted.push(describeDefinition(record));
    }
  }
  return { taskDefinitions: deleted, failures };
}

import { createHash, randomUUID } from 'node:crypto';
import {
  epochSeconds,
  type Input,
  invalidParameter,
  objects,
  optionalNumber,
  optionalObject,
  optionalString,
  page,
  requiredString,
  stringList,
} from './protocol.ts';
import { stopTask, type TaskRunner } from './runner.ts';
import { type EcsStore, hex, type TaskContainer, type TaskRecord, taskDemand, validTags } from './store.ts';

/** The task operations: RunTask, DescribeTasks, ListTasks, StopTask. */

/** What the task operations work with. */
export interface TaskContext {
  readonly store: EcsStore;
  readonly runner: TaskRunner;
  readonly subnets: readonly string[];
  readonly securityGroups: readonly string[];
  /** Faults: how long new tasks answer MISSING, and wait before starting their containers. */
  readonly faults: { missingMs: number; slowStartMs: number };
}

/** ECS's cap on the JSON of a RunTask's `overrides`, punctuation included. */
export const OVERRIDES_LIMIT = 8192;

/** A launched task settles in PROVISIONING this long without the slow-start fault (awsvpc only). */
const PROVISIONING_MS = 300;

/** RunTask. */
export function runTask(context: TaskContext, input: Input): unknown {
  const { store } = context;
  const cluster = store.cluster(optionalString(input, 'cluster'));
  const count = optionalNumber(input, 'count') ?? 1;
  if (!Number.isInteger(count) || count < 1 || count > 10)
    throw invalidParameter('count must be between 1 and 10.');
  const clientToken = optionalString(input, 'clientToken');
  if (clientToken !== undefined && clientToken.length > 64) {
    throw invalidParameter('clientToken must be at most 64 characters.');
  }
  const fingerprint = createHash('sha256')
    .update(JSON.stringify({ ...input, clientToken: undefined }))
    .digest('hex');
  if (clientToken !== undefined) {
    const earlier = store.clientTokens.get(clientToken);
    if (earlier) {
      if (earlier.fingerprint !== fingerprint) {
        throw invalidParameter(
          `The clientToken '${clientToken}' was already used with different parameters: give each distinct RunTask its own token.`,
        );
      }
      return { tasks: earlier.tasks.map((task) => describeTask(task, true)), failures: [] };
    }
  }
  const definition = store.taskDefinition(requiredString(input, 'taskDefinition'));
  if (definition.status !== 'ACTIVE') {
    throw invalidParameter(`TaskDefinition is inactive: ${definition.arn} cannot start new tasks.`);
  }
  const launchType = chosenLaunchType(input);
  if (launchType !== 'FARGATE' && launchType !== 'EC2') {
    throw invalidParameter(`launchType ${launchType} is not available in the ECS emulator (FARGATE or EC2).`);
  }
  if (launchType === 'FARGATE' && !definition.compatibilities.includes('FARGATE')) {
    throw invalidParameter('Task definition does not support launch_type FARGATE.');
  }
  const network = awsvpc(context, input, definition.networkMode);
  const startedBy = optionalString(input, 'startedBy');
  if (startedBy !== undefined && startedBy.length > 128)
    throw invalidParameter('startedBy must be at most 128 characters.');
  const group = optionalString(input, 'group') ?? `family:${definition.family}`;
  if (group.length > 255) throw invalidParameter('group must be at most 255 characters.');
  const overrides = optionalObject(input, 'overrides') ?? {};
  const overridesLength = JSON.stringify(overrides).length;
  if (overridesLength > OVERRIDES_LIMIT) {
    throw invalidParameter(
      `Container Overrides length must be at most ${OVERRIDES_LIMIT} (it is ${overridesLength}).`,
    );
  }
  const containerOverrides = new Map<string, Input>();
  for (const override of objects(overrides, 'containerOverrides')) {
    const name = requiredString(override, 'name');
    if (!definition.containers.some((container) => container.name === name)) {
      throw invalidParameter(
        `Override for container named ${name} is not a container in the TaskDefinition.`,
      );
    }
    containerOverrides.set(name, override);
  }
  const propagate = optionalString(input, 'propagateTags') ?? 'NONE';
  if (propagate === 'SERVICE')
    throw invalidParameter('The propagateTags SERVICE is only for tasks of a service.');
  const tags = validTags(objects(input, 'tags'), propagate === 'TASK_DEFINITION' ? definition.tags : []);
  let instance: TaskRecord['instance'];
  if (launchType === 'EC2') {
    instance = cluster.instances[0];
    if (!instance) throw invalidParameter('No Container Instances were found in your cluster.');
  }
  const now = Date.now();
  const tasks: TaskRecord[] = [];
  const failures: { arn: string; reason: string }[] = [];
  for (let index = 0; index < count; index++) {
    const unplaceable = instance && placementFailure(store, instance, definition);
    if (instance && unplaceable) {
      failures.push({ arn: instance.arn, reason: unplaceable });
      continue;
    }
    const { id, arn } = store.newTaskIdentity(cluster);
    const slow = context.faults.slowStartMs;
    const provisioning = network ? (slow > 0 ? slow / 2 : PROVISIONING_MS) : 0;
    const containers = definition.containers.map((containerDefinition): TaskContainer => {
      const override = containerOverrides.get(containerDefinition.name) ?? {};
      const environment = new Map(containerDefinition.environment.map(({ name, value }) => [name, value]));
      for (const pair of objects(override, 'environment')) {
        environment.set(requiredString(pair, 'name'), optionalString(pair, 'value') ?? '');
      }
      const command =
        override.command === undefined ? containerDefinition.command : stringList(override, 'command');
      return {
        definition: containerDefinition,
        arn: store.containerArn(cluster, id),
        environment: [...environment].map(([name, value]) => ({ name, value })),
        command,
        cpu: optionalNumber(override, 'cpu') ?? containerDefinition.cpu,
        memory: optionalNumber(override, 'memory') ?? containerDefinition.memory,
        memoryReservation:
          optionalNumber(override, 'memoryReservation') ?? containerDefinition.memoryReservation,
        lastStatus: 'PENDING',
        healthStatus: 'UNKNOWN',
        networkBindings: [],
      };
    });
    const task: TaskRecord = {
      id,
      arn,
      cluster,
      definition,
      launchType,
      ...(instance ? { instance } : {}),
      ...(network
        ? {
            network: {
              ...network,
              eniId: `eni-${hex(17)}`,
              attachmentId: randomUUID(),
              mac: `02:${hex(10).replace(/(..)(?!$)/g, '$1:')}`,
            },
          }
        : {}),
      containers,
      overrides: {
        containerOverrides: objects(overrides, 'containerOverrides'),
        inferenceAcceleratorOverrides: [],
      },
      ...sizes(overrides, definition),
      startedBy,
      group,
      tags: [...tags],
      lastStatus: network ? 'PROVISIONING' : 'PENDING',
      desiredStatus: 'RUNNING',
      createdAt: now,
      missingUntil: now + context.faults.missingMs,
      provisionedAt: now + provisioning,
      pendingUntil: now + provisioning + (slow > 0 ? slow / 2 : 0),
      version: 1,
    };
    store.tasks.set(id, task);
    context.runner.add(task);
    tasks.push(task);
  }
  if (clientToken !== undefined && tasks.length > 0)
    store.clientTokens.set(clientToken, { fingerprint, tasks });
  return { tasks: tasks.map((task) => describeTask(task, true)), failures };
}

/** Why the EC2 instance cannot take one more task of `definition`: RESOURCE:CPU, MEMORY or PORTS. */
function placementFailure(
  store: EcsStore,
  instance: NonNullable<TaskRecord['instance']>,
  definition: TaskRecord['definition'],
): string | undefined {
  const usage = store.instanceUsage(instance);
  const demand = taskDemand(definition);
  if (usage.cpu + demand.cpu > instance.cpu) return 'RESOURCE:CPU';
  if (usage.memory + demand.memory > instance.memory) return 'RESOURCE:MEMORY';
  if (demand.ports.some((port) => usage.ports.has(port))) return 'RESOURCE:PORTS';
  return undefined;
}

/** The launch type, given directly or through a FARGATE / FARGATE_SPOT capacity provider strategy. */
function chosenLaunchType(input: Input): 'FARGATE' | 'EC2' {
  const strategy = objects(input, 'capacityProviderStrategy');
  const launchType = optionalString(input, 'launchType');
  if (strategy.length > 0) {
    if (launchType !== undefined) {
      throw invalidParameter(
        'Specifying both a launch type and capacity provider strategy is not supported.',
      );
    }
    const providers = strategy.map((item) => requiredString(item, 'capacityProvider'));
    const unknown = providers.find((provider) => provider !== 'FARGATE' && provider !== 'FARGATE_SPOT');
    if (unknown !== undefined) {
      throw invalidParameter(
        `The capacity provider ${unknown} does not exist (the ECS emulator has FARGATE and FARGATE_SPOT).`,
      );
    }
    return 'FARGATE';
  }
  return (launchType ?? 'EC2') as 'FARGATE' | 'EC2';
}

function sizes(overrides: Input, definition: TaskRecord['definition']): { cpu?: string; memory?: string } {
  const cpu = optionalString(overrides, 'cpu') ?? definition.cpu;
  const memory = optionalString(overrides, 'memory') ?? definition.memory;
  return { cpu, memory };
}

/** Validates `networkConfiguration` against the task's network mode; the subnet and groups for awsvpc. */
function awsvpc(
  context: TaskContext,
  input: Input,
  networkMode: string,
): { subnet: string; securityGroups: readonly string[]; assignPublicIp: boolean } | undefined {
  const configuration = optionalObject(
    optionalObject(input, 'networkConfiguration') ?? {},
    'awsvpcConfiguration',
  );
  if (networkMode !== 'awsvpc') {
    if (configuration) {
      throw invalidParameter(
        'Network Configuration is not valid for the given networkMode of this task definition.',
      );
    }
    return undefined;
  }
  if (!configuration) {
    throw invalidParameter("Network Configuration must be provided when networkMode 'awsvpc' is specified.");
  }
  const subnets = stringList(configuration, 'subnets');
  if (subnets.length === 0) throw invalidParameter('subnets can not be empty.');
  if (subnets.length > 16) throw invalidParameter('At most 16 subnets can be given.');
  for (const subnet of subnets) {
    if (!context.subnets.includes(subnet)) {
      throw invalidParameter(
        `Error retrieving subnet information for [${subnet}]: The subnet ID '${subnet}' does not exist (ECS emulator subnets: ${context.subnets.join(', ')})`,
      );
    }
  }
  const groups = stringList(configuration, 'securityGroups');
  if (groups.length > 5) throw invalidParameter('At most 5 security groups can be given.');
  for (const group of groups) {
    if (!context.securityGroups.includes(group)) {
      throw invalidParameter(
        `Error retrieving security group information for [${group}]: The security group '${group}' does not exist (ECS emulator groups: ${context.securityGroups.join(', ')})`,
      );
    }
  }
  const publicIp = optionalString(configuration, 'assignPublicIp');
  if (publicIp !== undefined && publicIp !== 'ENABLED' && publicIp !== 'DISABLED') {
    throw invalidParameter('assignPublicIp must be ENABLED or DISABLED.');
  }
  return {
    subnet: subnets[Math.floor(Math.random() * subnets.length)] ?? '',
    securityGroups: groups.length > 0 ? groups : context.securityGroups.slice(0, 1),
    assignPublicIp: publicIp === 'ENABLED',
  };
}

/** The address other tasks reach an awsvpc task on: its first essential container's bridge IP. */
export function taskIp(task: TaskRecord): string | undefined {
  return task.containers.find((container) => container.definition.essential && container.ip !== undefined)
    ?.ip;
}

/** A task as DescribeTasks and RunTask answer it. */
export function describeTask(task: TaskRecord, withTags: boolean): unknown {
  const ip = task.network ? taskIp(task) : undefined;
  const eniStatus =
    task.lastStatus === 'STOPPED'
      ? 'DELETED'
      : task.lastStatus === 'PROVISIONING'
        ? 'PRECREATED'
        : task.lastStatus === 'DEPROVISIONING'
          ? 'DETACHING'
          : 'ATTACHED';
  const network = task.network;
  return {
    taskArn: task.arn,
    clusterArn: task.cluster.arn,
    taskDefinitionArn: task.definition.arn,
    ...(task.instance ? { containerInstanceArn: task.instance.arn } : {}),
    launchType: task.launchType,
    ...(task.launchType === 'FARGATE' ? { platformVersion: '1.4.0', platformFamily: 'Linux' } : {}),
    availabilityZone: `${task.cluster.arn.split(':')[3]}a`,
    attachments: network
      ? [
          {
            id: network.attachmentId,
            type: 'ElasticNetworkInterface',
            status: eniStatus,
            details: [
              { name: 'subnetId', value: network.subnet },
              { name: 'networkInterfaceId', value: network.eniId },
              { name: 'macAddress', value: network.mac },
              ...(ip
                ? [
                    { name: 'privateDnsName', value: `ip-${ip.replaceAll('.', '-')}.ec2.internal` },
                    { name: 'privateIPv4Address', value: ip },
                  ]
                : []),
            ],
          },
        ]
      : [],
    attributes: [{ name: 'ecs.cpu-architecture', value: 'x86_64' }],
    containers: task.containers.map((container) => describeContainer(task, container, ip)),
    cpu: task.cpu,
    memory: task.memory,
    overrides: task.overrides,
    lastStatus: task.lastStatus,
    desiredStatus: task.desiredStatus,
    healthStatus: taskHealth(task),
    connectivity: 'CONNECTED',
    connectivityAt: epochSeconds(task.createdAt),
    createdAt: epochSeconds(task.createdAt),
    ...dates(task),
    startedBy: task.startedBy,
    group: task.group,
    stopCode: task.stopCode,
    stoppedReason: task.stoppedReason,
    enableExecuteCommand: false,
    ...(task.launchType === 'FARGATE' ? { ephemeralStorage: { sizeInGiB: 20 } } : {}),
    version: task.version,
    ...(withTags ? { tags: task.tags } : {}),
  };
}

/** ECS's task health: that of the essential containers with a health check (UNKNOWN without any). */
function taskHealth(task: TaskRecord): 'HEALTHY' | 'UNHEALTHY' | 'UNKNOWN' {
  const checked = task.containers.filter(
    (container) => container.definition.essential && container.definition.healthCheck,
  );
  if (checked.length === 0) return 'UNKNOWN';
  if (checked.some((container) => container.healthStatus === 'UNHEALTHY')) return 'UNHEALTHY';
  return checked.every((container) => container.healthStatus === 'HEALTHY') ? 'HEALTHY' : 'UNKNOWN';
}

function dates(task: TaskRecord): Record<string, number> {
  const entries = {
    pullStartedAt: task.pullStartedAt,
    pullStoppedAt: task.pullStoppedAt,
    startedAt: task.startedAt,
    stoppingAt: task.stoppingAt,
    executionStoppedAt: task.stoppedAt,
    stoppedAt: task.stoppedAt,
  };
  return Object.fromEntries(
    Object.entries(entries)
      .filter(([, value]) => value !== undefined)
      .map(([key, value]) => [key, (value ?? 0) / 1000]),
  );
}

function describeContainer(task: TaskRecord, container: TaskContainer, ip: string | undefined): unknown {
  const definition = container.definition;
  return {
    containerArn: container.arn,
    taskArn: task.arn,
    name: definition.name,
    image: definition.image,
    ...(container.runtimeId ? { runtimeId: container.runtimeId } : {}),
    lastStatus: container.lastStatus,
    exitCode: container.exitCode,
    reason: container.reason,
    networkBindings: container.networkBindings,
    networkInterfaces:
      task.network && ip ? [{ attachmentId: task.network.attachmentId, privateIpv4Address: ip }] : [],
    healthStatus: container.healthStatus,
    cpu: String(container.cpu),
    memory: container.memory?.toString(),
    memoryReservation: container.memoryReservation?.toString(),
  };
}

/** DescribeTasks: at most 100 tasks; unknown ones (and new ones under the MISSING fault) in failures. */
export function describeTasks(context: TaskContext, input: Input): unknown {
  const cluster = context.store.cluster(optionalString(input, 'cluster'));
  const references = stringList(input, 'tasks');
  if (references.length === 0) throw invalidParameter('Tasks cannot be empty.');
  if (references.length > 100) throw invalidParameter('Tasks cannot have more than 100 elements.');
  const withTags = stringList(input, 'include').includes('TAGS');
  const now = Date.now();
  const tasks: unknown[] = [];
  const failures: unknown[] = [];
  for (const reference of references) {
    const task = context.store.findTask(cluster, reference);
    if (!task || now < task.missingUntil) {
      failures.push({ arn: task?.arn ?? reference, reason: 'MISSING' });
    } else {
      tasks.push(describeTask(task, withTags));
    }
  }
  return { tasks, failures };
}

/** ListTasks: by family, startedBy, container instance, launch type and desired status (RUNNING by default). */
export function listTasks(context: TaskContext, input: Input): unknown {
  const cluster = context.store.cluster(optionalString(input, 'cluster'));
  const family = optionalString(input, 'family');
  const startedBy = optionalString(input, 'startedBy');
  const launchType = optionalString(input, 'launchType');
  const instance = optionalString(input, 'containerInstance');
  const desired = optionalString(input, 'desiredStatus') ?? 'RUNNING';
  if (desired !== 'RUNNING' && desired !== 'STOPPED' && desired !== 'PENDING') {
    throw invalidParameter('desiredStatus must be RUNNING, PENDING or STOPPED.');
  }
  if (optionalString(input, 'serviceName') !== undefined) {
    return { taskArns: [] }; // the emulator has no services
  }
  context.store.forgetExpired();
  const matching = [...context.store.tasks.values()].filter(
    (task) =>
      task.cluster === cluster &&
      task.desiredStatus === (desired === 'PENDING' ? 'RUNNING' : desired) &&
      (desired !== 'PENDING' || task.lastStatus === 'PENDING' || task.lastStatus === 'PROVISIONING') &&
      (family === undefined || task.definition.family === family) &&
      (startedBy === undefined || task.startedBy === startedBy) &&
      (launchType === undefined || task.launchType === launchType) &&
      (instance === undefined || task.instance?.arn === instance || task.instance?.id === instance),
  );
  const { items, nextToken } = page(matching, input, 100);
  return { taskArns: items.map((task) => task.arn), ...(nextToken ? { nextToken } : {}) };
}

/** StopTask: idempotent; the reason becomes `stoppedReason` (ECS caps it at 255 characters). */
export function stopTaskOperation(context: TaskContext, input: Input): unknown {
  const cluster = context.store.cluster(optionalString(input, 'cluster'));
  const reference = requiredString(input, 'task');
  const task = context.store.findTask(cluster, reference);
  if (!task) throw invalidParameter('The referenced task was not found.');
  const reason = optionalString(input, 'reason');
  if (reason !== undefined && reason.length > 255)
    throw invalidParameter('reason must be at most 255 characters.');
  stopTask(task, 'UserInitiated', reason ?? 'Task stopped by user');
  return { task: describeTask(task, false) };
}

import {
  epochSeconds,
  type Input,
  invalidParameter,
  objects,
  optionalString,
  page,
  requiredString,
  stringList,
} from './protocol.ts';
import type { ClusterRecord, ContainerInstanceRecord, EcsStore } from './store.ts';
import { validTags } from './store.ts';

/** Cluster, container instance and tagging operations. */

function tasksIn(store: EcsStore, cluster: ClusterRecord, statuses: readonly string[]): number {
  let count = 0;
  for (const task of store.tasks.values()) {
    if (task.cluster === cluster && statuses.includes(task.lastStatus)) count++;
  }
  return count;
}

function describeCluster(store: EcsStore, cluster: ClusterRecord, withTags: boolean): unknown {
  return {
    clusterArn: cluster.arn,
    clusterName: cluster.name,
    status: 'ACTIVE',
    registeredContainerInstancesCount: cluster.instances.length,
    runningTasksCount: tasksIn(store, cluster, ['RUNNING']),
    pendingTasksCount: tasksIn(store, cluster, ['PROVISIONING', 'PENDING']),
    activeServicesCount: 0,
    statistics: [],
    settings: [{ name: 'containerInsights', value: 'disabled' }],
    capacityProviders: ['FARGATE', 'FARGATE_SPOT'],
    defaultCapacityProviderStrategy: [],
    ...(withTags ? { tags: cluster.tags } : {}),
  };
}

/** CreateCluster (idempotent: an existing cluster is answered as it is). */
export function createCluster(store: EcsStore, input: Input): unknown {
  const name = optionalString(input, 'clusterName') ?? 'default';
  if (!/^[A-Za-z0-9_-]{1,255}$/.test(name)) {
    throw invalidParameter('Cluster names can hold up to 255 letters, numbers, hyphens and underscores.');
  }
  const cluster = store.createCluster(name, validTags(objects(input, 'tags')));
  return { cluster: describeCluster(store, cluster, false) };
}

/** DescribeClusters (`default` when none is named); unknown ones in failures as MISSING. */
export function describeClusters(store: EcsStore, input: Input): unknown {
  const references = input.clusters === undefined ? ['default'] : stringList(input, 'clusters');
  if (references.length > 100) throw invalidParameter('clusters cannot have more than 100 elements.');
  const withTags = stringList(input, 'include').includes('TAGS');
  const clusters: unknown[] = [];
  const failures: unknown[] = [];
  for (const reference of references) {
    const cluster = store.findCluster(reference);
    if (cluster) clusters.push(describeCluster(store, cluster, withTags));
    else
      failures.push({
        arn: reference.startsWith('arn:') ? reference : store.arn(`cluster/${reference}`),
        reason: 'MISSING',
      });
  }
  return { clusters, failures };
}

/** ListClusters. */
export function listClusters(store: EcsStore, input: Input): unknown {
  const { items, nextToken } = page([...store.clusters.values()], input, 100);
  return { clusterArns: items.map((cluster) => cluster.arn), ...(nextToken ? { nextToken } : {}) };
}

function describeInstance(store: EcsStore, instance: ContainerInstanceRecord): unknown {
  const usage = store.instanceUsage(instance);
  const resources = (cpuUnits: number, memoryMib: number) => [
    { name: 'CPU', type: 'INTEGER', integerValue: cpuUnits },
    { name: 'MEMORY', type: 'INTEGER', integerValue: memoryMib },
    { name: 'PORTS', type: 'STRINGSET', stringSetValue: ['22', '2375', '2376', '51678', '51679'] },
  ];
  return {
    containerInstanceArn: instance.arn,
    ec2InstanceId: instance.ec2InstanceId,
    version: 1,
    versionInfo: { agentVersion: '1.89.0', agentHash: 'emulator', dockerVersion: 'DockerVersion: 20.10' },
    status: 'ACTIVE',
    agentConnected: true,
    runningTasksCount: usage.running,
    pendingTasksCount: usage.pending,
    registeredResources: resources(instance.cpu, instance.memory),
    remainingResources: resources(instance.cpu - usage.cpu, instance.memory - usage.memory),
    attributes: [
      { name: 'ecs.os-type', value: 'linux' },
      { name: 'ecs.cpu-architecture', value: 'x86_64' },
      { name: 'ecs.availability-zone', value: `${store.region}a` },
    ],
    registeredAt: epochSeconds(instance.registeredAt),
    attachments: [],
    tags: instance.tags,
  };
}

/** ListContainerInstances. */
export function listContainerInstances(store: EcsStore, input: Input): unknown {
  const cluster = store.cluster(optionalString(input, 'cluster'));
  const status = optionalString(input, 'status');
  const instances = status === undefined || status === 'ACTIVE' ? cluster.instances : [];
  const { items, nextToken } = page(instances, input, 100);
  return {
    containerInstanceArns: items.map((instance) => instance.arn),
    ...(nextToken ? { nextToken } : {}),
  };
}

/** DescribeContainerInstances (at most 100); unknown ones in failures as MISSING. */
export function describeContainerInstances(store: EcsStore, input: Input): unknown {
  const cluster = store.cluster(optionalString(input, 'cluster'));
  const references = stringList(input, 'containerInstances');
  if (references.length === 0) throw invalidParameter('containerInstances cannot be empty.');
  if (references.length > 100)
    throw invalidParameter('containerInstances cannot have more than 100 elements.');
  const containerInstances: unknown[] = [];
  const failures: unknown[] = [];
  for (const reference of references) {
    const instance = store.findInstance(cluster, reference);
    if (instance) containerInstances.push(describeInstance(store, instance));
    else failures.push({ arn: reference, reason: 'MISSING' });
  }
  return { containerInstances, failures };
}

/** TagResource: a stopped task takes no tags any more. */
export function tagResource(store: EcsStore, input: Input): unknown {
  const resource = store.taggable(requiredString(input, 'resourceArn'));
  if ('lastStatus' in resource && resource.lastStatus === 'STOPPED') {
    throw invalidParameter('The specified task is stopped.');
  }
  const tags = objects(input, 'tags');
  if (tags.length === 0) throw invalidParameter('tags can not be empty.');
  resource.tags = validTags(tags, resource.tags);
  return {};
}

/** UntagResource. */
export function untagResource(store: EcsStore, input: Input): unknown {
  const resource = store.taggable(requiredString(input, 'resourceArn'));
  const keys = stringList(input, 'tagKeys');
  resource.tags = resource.tags.filter((tag) => !keys.includes(tag.key));
  return {};
}

/** ListTagsForResource (a stopped task has none left). */
export function listTagsForResource(store: EcsStore, input: Input): unknown {
  return { tags: store.taggable(requiredString(input, 'resourceArn')).tags };
}

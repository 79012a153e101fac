import type { Task } from '@aws-sdk/client-ecs';
import type { ContainerInfo, ContainerState, Upstream } from '@dde/core';
import { parseLabels } from '@dde/core';
import { toolContainer } from './addresses.ts';
import { nameFromGroup, startedByFor, tagsToLabels } from './tags.ts';
import { describeStop } from './wait.ts';

// ECS's task lifecycle onto dde's container states.
const STATES: Readonly<Record<string, ContainerState>> = {
  PROVISIONING: 'created',
  PENDING: 'created',
  ACTIVATING: 'created',
  RUNNING: 'running',
  DEACTIVATING: 'removing',
  STOPPING: 'removing',
  DEPROVISIONING: 'removing',
  STOPPED: 'exited',
  DELETED: 'exited',
};

/** What {@link toContainerInfo} needs beyond the task. */
export interface TaskInfoContext {
  /** The backend's namespace. */
  readonly namespace: string;
  /** The tool's address, when the task has one. */
  readonly upstream: Upstream | undefined;
  /** The port from the task definition, used when the task's tags are gone. */
  readonly fallbackPort?: number | undefined;
}

/** Whether a described task is one of this namespace's (by `startedBy` and dde's group). */
export function isOurTask(task: Task, namespace: string): boolean {
  return task.startedBy === startedByFor(namespace) && nameFromGroup(task.group) !== undefined;
}

/** The container name of one of our tasks. */
export function taskName(task: Task): string | undefined {
  return nameFromGroup(task.group);
}

/**
 * The vendor-free view of a described task, or undefined when it is not one of ours. The name
 * comes from the task's group and the namespace from `startedBy`, which survive the task
 * stopping; the rest from its tags while it has them.
 */
export function toContainerInfo(task: Task, context: TaskInfoContext): ContainerInfo | undefined {
  const name = nameFromGroup(task.group);
  if (
    name === undefined ||
    task.startedBy !== startedByFor(context.namespace) ||
    task.taskArn === undefined
  ) {
    return undefined;
  }
  const labels = parseLabels(tagsToLabels(task.tags));
  const port = labels?.port ?? context.fallbackPort;
  if (port === undefined || (labels !== undefined && labels.namespace !== context.namespace))
    return undefined;
  let state = STATES[task.lastStatus ?? ''] ?? 'unknown';
  // A running task whose address is not known yet is still starting for the proxy.
  if (state === 'running' && context.upstream === undefined) state = 'created';
  const stopped = state === 'exited';
  const tool = toolContainer(task);
  return {
    name,
    id: task.taskArn,
    image: tool?.image ?? '',
    namespace: context.namespace,
    state,
    exitCode: stopped ? tool?.exitCode : undefined,
    // ECS's stop code and reason and each container's: the proxy's failure page shows them.
    ...(stopped && task.stoppedReason !== undefined ? { exitReason: describeStop(task) } : {}),
    createdAt: task.createdAt ?? task.startedAt ?? new Date(0),
    startedAt: task.startedAt,
    finishedAt: stopped ? task.stoppedAt : undefined,
    port,
    upstream: state === 'running' ? context.upstream : undefined,
    readiness: { path: labels?.readinessPath ?? '/', timeoutMs: labels?.readinessTimeoutMs ?? 120_000 },
    owner: labels?.owner,
    memoryReservationMb: labels?.memoryReservationMb,
    memoryLimitMb: task.memory === undefined ? labels?.memoryLimitMb : Number(task.memory),
    cpus: task.cpu === undefined ? labels?.cpus : Number(task.cpu) / 1024,
    specHash: labels?.specHash ?? '',
    labels: labels?.userLabels ?? {},
  };
}

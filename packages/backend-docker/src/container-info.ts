import type { ContainerInfo, ContainerState } from '@dde/core';
import { parseLabels } from '@dde/core';
import type { ContainerJson } from './container-json.ts';
import { parseDockerTime } from './logs.ts';
import type { UpstreamPolicy } from './upstream.ts';
import { chooseUpstream } from './upstream.ts';

const STATES: ReadonlySet<string> = new Set<ContainerState>([
  'created',
  'running',
  'restarting',
  'paused',
  'exited',
  'dead',
  'removing',
]);
const MIB = 1024 * 1024;

/** Whether an inspected container is one of ours: dde's labels, of this namespace. */
export function isOurs(container: ContainerJson, namespace: string): boolean {
  return parseLabels(container.Config.Labels ?? undefined)?.namespace === namespace;
}

/**
 * The vendor-free view of an inspected container, or undefined when dde does not manage it in
 * `namespace` (such containers do not exist for this backend).
 */
export function toContainerInfo(
  container: ContainerJson,
  namespace: string,
  policy: UpstreamPolicy,
): ContainerInfo | undefined {
  const labels = parseLabels(container.Config.Labels ?? undefined);
  if (labels === undefined || labels.namespace !== namespace) return undefined;
  const status = container.State.Status;
  const state = (STATES.has(status) ? status : 'unknown') as ContainerState;
  const stopped = state === 'exited' || state === 'dead';
  const memory = container.HostConfig.Memory ?? 0;
  const nanoCpus = container.HostConfig.NanoCpus ?? 0;
  return {
    name: container.Name.replace(/^\//, ''),
    id: container.Id,
    image: container.Config.Image,
    namespace: labels.namespace,
    state,
    exitCode: stopped ? container.State.ExitCode : undefined,
    createdAt: parseDockerTime(container.Created) ?? new Date(0),
    startedAt: parseDockerTime(container.State.StartedAt),
    finishedAt: stopped ? parseDockerTime(container.State.FinishedAt) : undefined,
    port: labels.port,
    upstream: chooseUpstream(container, labels.port, policy),
    readiness: { path: labels.readinessPath, timeoutMs: labels.readinessTimeoutMs },
    owner: labels.owner,
    memoryReservationMb: labels.memoryReservationMb,
    // As applied by the engine; the labels say what was asked for when the engine has no limit.
    memoryLimitMb: memory > 0 ? memory / MIB : labels.memoryLimitMb,
    cpus: nanoCpus > 0 ? nanoCpus / 1e9 : labels.cpus,
    specHash: labels.specHash,
    labels: labels.userLabels,
  };
}

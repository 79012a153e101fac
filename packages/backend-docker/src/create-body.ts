import type { LaunchPlan } from '@dde/core';
import { confinement } from './hardening.ts';

/** What besides the plan decides a container's creation request. */
export interface CreateSettings {
  /** The volumes backing `extraDirectories`, in order. */
  readonly volumes: readonly string[];
  /** Labels beyond the plan's (the launch id). */
  readonly labels: Readonly<Record<string, string>>;
  /** Host address to publish the port on; undefined publishes nothing. */
  readonly publishHostIp: string | undefined;
  /** The network to join (name or id). */
  readonly network: string;
  /** See `DockerBackendOptions.memoryLimitFactor`. */
  readonly memoryLimitFactor: number | false;
}

/** The body of `POST /containers/create` for a launch plan: hardened, on its network. */
export function createBody(plan: LaunchPlan, settings: CreateSettings): Record<string, unknown> {
  const { spec } = plan;
  const portKey = `${spec.port}/tcp`;
  return {
    Image: spec.image,
    ...(spec.command === undefined ? {} : { Cmd: spec.command }),
    Env: Object.entries(plan.env).map(([key, value]) => `${key}=${value}`),
    Labels: { ...plan.labels, ...settings.labels },
    ExposedPorts: { [portKey]: {} },
    HostConfig: {
      ...(settings.publishHostIp === undefined
        ? {}
        : { PortBindings: { [portKey]: [{ HostIp: settings.publishHostIp, HostPort: '' }] } }),
      ...(spec.cpus === undefined ? {} : { NanoCpus: Math.round(spec.cpus * 1e9) }),
      ...confinement(spec, settings.memoryLimitFactor),
      Mounts: spec.extraDirectories.map((target, index) => ({
        Type: 'volume',
        Source: settings.volumes[index],
        Target: target,
      })),
      NetworkMode: settings.network,
    },
  };
}

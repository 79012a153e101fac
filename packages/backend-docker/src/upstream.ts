import type { Upstream } from '@dde/core';
import type { ContainerJson } from './container-json.ts';

/**
 * How the proxy reaches containers:
 * - `auto`: the container's bridge address when the engine is local on Linux (direct, about
 *   twice the throughput of docker-proxy), else the published port;
 * - `bridge`: always the container's address on its network (the proxy must be able to route
 *   to it, e.g. it runs on the engine's host or in a container on the same network);
 * - `published`: always the port published on the host.
 */
export type UpstreamMode = 'auto' | 'bridge' | 'published';

/** Everything besides the container that decides its upstream. */
export interface UpstreamPolicy {
  /** The configured mode. */
  readonly mode: UpstreamMode;
  /** Whether the engine runs on this machine. */
  readonly local: boolean;
  /** This process's platform: bridge addresses are only routable from the host on Linux. */
  readonly platform: NodeJS.Platform;
  /** The network containers join: their address on it is preferred. */
  readonly network: string | undefined;
  /** The engine's host name, for ports published on all interfaces of a remote engine. */
  readonly engineHost: string | undefined;
}

const UNSPECIFIED = new Set(['', '0.0.0.0', '::']);

/** Where the proxy reaches a running container's `port`, or undefined when it is not running. */
export function chooseUpstream(
  container: ContainerJson,
  port: number,
  policy: UpstreamPolicy,
): Upstream | undefined {
  if (container.State.Status !== 'running') return undefined;
  const preferBridge =
    policy.mode === 'bridge' || (policy.mode === 'auto' && policy.local && policy.platform === 'linux');
  if (preferBridge) {
    const address = bridgeAddress(container, policy.network);
    if (address !== undefined) return { host: address, port };
  }
  if (policy.mode === 'bridge') return undefined;
  return publishedAddress(container, port, policy);
}

function bridgeAddress(container: ContainerJson, network: string | undefined): string | undefined {
  const networks = container.NetworkSettings.Networks ?? {};
  const preferred = network === undefined ? undefined : networks[network]?.IPAddress;
  if (preferred) return preferred;
  // A container launched before the network changed (e.g. on the default bridge by an older dde).
  for (const entry of Object.values(networks)) {
    if (entry.IPAddress) return entry.IPAddress;
  }
  return undefined;
}

function publishedAddress(
  container: ContainerJson,
  port: number,
  policy: UpstreamPolicy,
): Upstream | undefined {
  const bindings = container.NetworkSettings.Ports?.[`${port}/tcp`] ?? [];
  const binding = bindings.find((entry) => Number(entry.HostPort) > 0);
  if (!binding) return undefined;
  const hostPort = Number(binding.HostPort);
  if (!UNSPECIFIED.has(binding.HostIp)) return { host: binding.HostIp, port: hostPort };
  // Published on every interface: loopback for a local engine, the engine's host for a remote one.
  const host = policy.local ? '127.0.0.1' : policy.engineHost;
  return host === undefined ? undefined : { host, port: hostPort };
}

/**
 * Where containers reach the host running the demo: the gateway of the Docker network they
 * join. On a local engine this address belongs to the host (the `docker0` bridge), so the demo
 * can listen on it for the containers' data requests.
 */
import type Docker from 'dockerode';

/** The first host address of an IPv4 subnet (`172.17.0.0/16` → `172.17.0.1`), the usual gateway. */
export function firstHostAddress(subnet: string): string | undefined {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(subnet);
  if (!match) return undefined;
  const octets = match.slice(1, 5).map(Number);
  const bits = Number(match[5]);
  if (octets.some((octet) => octet > 255) || bits > 30) return undefined;
  const base = octets.reduce((value, octet) => value * 256 + octet, 0);
  const address = base - (base % 2 ** (32 - bits)) + 1;
  return [24, 16, 8, 0].map((shift) => Math.floor(address / 2 ** shift) % 256).join('.');
}

/**
 * The IPv4 gateway of `network` (default: the engine's `bridge`). Engines do not always record
 * the gateway of the default bridge; then it is the subnet's first address.
 */
export async function networkGateway(docker: Docker, network = 'bridge'): Promise<string> {
  const info = (await docker.getNetwork(network).inspect()) as {
    IPAM?: { Config?: Array<{ Gateway?: string; Subnet?: string }> | null };
  };
  for (const config of info.IPAM?.Config ?? []) {
    if (config.Gateway && !config.Gateway.includes(':')) return config.Gateway;
    const derived = config.Subnet ? firstHostAddress(config.Subnet) : undefined;
    if (derived) return derived;
  }
  throw new Error(`the Docker network "${network}" has no IPv4 gateway: set --data-host and --data-origin`);
}

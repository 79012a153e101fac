import { DdeError, LABELS } from '@dde/core';
import type Dockerode from 'dockerode';
import { engineCall } from './api.ts';
import { engineMessage, engineStatus, isConflict, isNotFound, toDdeError } from './errors.ts';

/** The bridge driver option that, set to `"false"`, stops containers of a network reaching each other. */
export const ICC_OPTION = 'com.docker.network.bridge.enable_icc';

/** The name of the network dde creates for a namespace's containers: `dde-<namespace>`. */
export function namespaceNetworkName(namespace: string): string {
  return `dde-${namespace}`;
}

/** Which network, of which namespace, on which engine. */
export interface NetworkTarget {
  readonly name: string;
  readonly namespace: string;
  /** The engine's address, for error messages. */
  readonly engine: string;
}

/** One entry of `GET /networks`. */
interface NetworkSummary {
  readonly Id: string;
  readonly Name: string;
  readonly Created: string;
  readonly Driver: string;
  readonly Labels: Readonly<Record<string, string>> | null;
  readonly Options: Readonly<Record<string, string>> | null;
}

/**
 * The network a backend's containers join: a configured one, used as it is, or the namespace's
 * own, looked up or created once per backend (single flight) and forgotten when it turns out
 * to be gone.
 */
export class ContainerNetwork {
  /** The network's name. */
  readonly name: string;
  /** Whether dde owns it (the namespace's own network), rather than the `network` option. */
  readonly owned: boolean;
  private readonly docker: Dockerode;
  private readonly target: NetworkTarget;
  private ready: Promise<string> | undefined;

  /** `configured` is the `network` option; undefined means the namespace's own network. */
  constructor(docker: Dockerode, configured: string | undefined, namespace: string, engine: string) {
    this.docker = docker;
    this.owned = configured === undefined;
    this.name = configured ?? namespaceNetworkName(namespace);
    this.target = { name: this.name, namespace, engine };
  }

  /**
   * What a container's `NetworkMode` names: the configured network, or our network's id.
   * Concurrent callers share one lookup, bounded by the first caller's `signal` (an engine that
   * never answers must not hold every later launch: a failed lookup is retried by the next).
   */
  resolve(signal?: AbortSignal): Promise<string> {
    if (!this.owned) return Promise.resolve(this.name);
    if (this.ready === undefined) {
      const ready = ensureNetwork(this.docker, this.target, signal);
      this.ready = ready;
      // A failure is retried by the next launch.
      ready.catch(() => {
        if (this.ready === ready) this.ready = undefined;
      });
    }
    return this.ready;
  }

  /** Looks the network up again on the next {@link resolve} (it was removed or doubled). */
  forget(): void {
    this.ready = undefined;
  }

  /** Removes our network (see {@link removeNetwork}); false for a configured one, never removed. */
  async remove(signal: AbortSignal | undefined): Promise<boolean> {
    if (!this.owned) return false;
    this.forget();
    return removeNetwork(this.docker, this.target, signal);
  }

  /** `NOT_FOUND` on `network` for a container whose network is missing (or ours doubled). */
  gone(error: unknown): DdeError {
    const message = this.owned
      ? `The network ${this.name} was removed, or created twice by racing processes, while the container was created (${engineMessage(error)})`
      : `The network ${this.name} does not exist on ${this.target.engine} (${engineMessage(error)}): create it (docker network create ${this.name}), or leave the network option out to use dde's isolated network`;
    return new DdeError('NOT_FOUND', message, { field: 'network', cause: error });
  }
}

// Creation races between processes can leave duplicates (the engine's CheckDuplicate is not
// atomic): a few rounds of list, create, list settle it.
const ATTEMPTS = 3;

/**
 * The id of the namespace's isolated network (a bridge with inter-container traffic disabled,
 * labelled as dde's), created when missing. Safe to call concurrently from several processes:
 * a creation that loses the race adopts the winner's network, and when the engine let two
 * creations through, every caller settles on the oldest and the others are removed.
 * Throws `CONFLICT` (field `network`) when a network of that name exists that dde did not create.
 */
export async function ensureNetwork(
  docker: Dockerode,
  target: NetworkTarget,
  signal?: AbortSignal,
): Promise<string> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const existing = await ourNetworks(docker, target, signal);
    if (existing.length > 0) return settle(docker, target, existing, signal);
    try {
      await engineCall(docker, {
        method: 'POST',
        path: '/networks/create',
        body: creationBody(target),
        signal,
      });
    } catch (error) {
      // Someone else created it first: adopt theirs on the next round.
      if (isConflict(error) || /already exists/i.test(engineMessage(error))) continue;
      throw creationError(error, target, signal);
    }
  }
  const existing = await ourNetworks(docker, target, signal);
  if (existing.length > 0) return settle(docker, target, existing, signal);
  throw new DdeError(
    'ENGINE_ERROR',
    `The network ${target.name} vanished each time right after it was created on ${target.engine}: is something removing it?`,
    { field: 'network' },
  );
}

/**
 * Removes the namespace's network (every copy, should a creation race have left two). Returns
 * false when there is none. Throws `CONFLICT` while containers are still attached to it.
 */
export async function removeNetwork(
  docker: Dockerode,
  target: NetworkTarget,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  const what = `removal of network ${target.name}`;
  let removed = false;
  for (const network of await ourNetworks(docker, target, signal)) {
    try {
      await engineCall(docker, { method: 'DELETE', path: `/networks/${network.Id}`, signal });
      removed = true;
    } catch (error) {
      if (isNotFound(error)) continue;
      if (/active endpoints/i.test(engineMessage(error))) {
        throw new DdeError(
          'CONFLICT',
          `The network ${target.name} is still in use (${engineMessage(error)}): remove the namespace's containers first (manager.removeAll(), or dde purge --all)`,
          { field: 'network', cause: error },
        );
      }
      throw toDdeError(error, { what, engine: target.engine, signal, field: 'network' });
    }
  }
  return removed;
}

/** The networks named exactly `target.name`; throws `CONFLICT` if one of them is not dde's. */
async function ourNetworks(
  docker: Dockerode,
  target: NetworkTarget,
  signal?: AbortSignal,
): Promise<NetworkSummary[]> {
  let listed: NetworkSummary[];
  try {
    listed = await engineCall<NetworkSummary[]>(docker, {
      method: 'GET',
      path: '/networks',
      query: { filters: { name: [target.name] } },
      signal,
    });
  } catch (error) {
    throw toDdeError(error, { what: `listing of network ${target.name}`, engine: target.engine, signal });
  }
  // The name filter matches substrings.
  const named = listed.filter((network) => network.Name === target.name);
  const foreign = named.find(
    (network) =>
      network.Labels?.[LABELS.managed] !== 'true' || network.Labels[LABELS.namespace] !== target.namespace,
  );
  if (foreign !== undefined) {
    throw new DdeError(
      'CONFLICT',
      `A network named ${target.name} exists on ${target.engine} but dde did not create it for namespace ${target.namespace}: remove it (docker network rm ${target.name}), or set the network option to use it as it is`,
      { field: 'network' },
    );
  }
  return named;
}

/**
 * The network every caller agrees on, and the others removed. With duplicates, the one that
 * containers already use wins (a network in use cannot be removed, and the engine refuses to
 * start containers while a name is ambiguous), then the oldest. Checks that it isolates.
 */
async function settle(
  docker: Dockerode,
  target: NetworkTarget,
  networks: NetworkSummary[],
  signal: AbortSignal | undefined,
): Promise<string> {
  const ranked = networks.length === 1 ? networks : await rankDuplicates(docker, networks, signal);
  const [winner, ...losers] = ranked;
  for (const loser of losers) {
    await engineCall(docker, { method: 'DELETE', path: `/networks/${loser.Id}`, signal }).catch(
      () => undefined,
    );
  }
  if (winner === undefined) throw new Error('settle() needs at least one network');
  if (winner.Driver !== 'bridge' || winner.Options?.[ICC_OPTION] !== 'false') {
    throw new DdeError(
      'CONFLICT',
      `The network ${target.name} does not stop its containers reaching each other (driver ${winner.Driver}, ${ICC_OPTION}=${winner.Options?.[ICC_OPTION] ?? 'unset'}): remove it (docker network rm ${target.name}) so that dde creates it again`,
      { field: 'network' },
    );
  }
  return winner.Id;
}

async function rankDuplicates(
  docker: Dockerode,
  networks: NetworkSummary[],
  signal: AbortSignal | undefined,
): Promise<NetworkSummary[]> {
  // The list answer leaves out the attached containers: inspect each (rare: only after a race).
  const inUse = new Map<string, number>();
  for (const network of networks) {
    const inspected = await engineCall<{ Containers?: Record<string, unknown> | null }>(docker, {
      method: 'GET',
      path: `/networks/${network.Id}`,
      signal,
    }).catch(() => undefined);
    inUse.set(network.Id, Object.keys(inspected?.Containers ?? {}).length);
  }
  return [...networks].sort((a, b) => (inUse.get(b.Id) ?? 0) - (inUse.get(a.Id) ?? 0) || compareAge(a, b));
}

function creationBody(target: NetworkTarget): unknown {
  return {
    Name: target.name,
    CheckDuplicate: true,
    Driver: 'bridge',
    // Not internal: tools may fetch their data from the internet.
    Internal: false,
    Options: { [ICC_OPTION]: 'false' },
    Labels: { [LABELS.managed]: 'true', [LABELS.namespace]: target.namespace },
  };
}

function creationError(error: unknown, target: NetworkTarget, signal: AbortSignal | undefined): DdeError {
  if (/address pool/i.test(engineMessage(error))) {
    return new DdeError(
      'ENGINE_ERROR',
      `Cannot create the network ${target.name} on ${target.engine}: ${engineMessage(error)}. Remove unused networks (docker network prune), widen the engine's default-address-pools, or set the network option to an existing network`,
      { field: 'network', cause: error },
    );
  }
  return toDdeError(error, {
    what: `creation of network ${target.name}`,
    engine: target.engine,
    field: 'network',
    signal,
  });
}

/** Oldest first; the id breaks ties, so that every process picks the same network. */
function compareAge(a: NetworkSummary, b: NetworkSummary): number {
  const [aSeconds, aNanos] = createdKey(a.Created);
  const [bSeconds, bNanos] = createdKey(b.Created);
  if (aSeconds !== bSeconds) return aSeconds - bSeconds;
  if (aNanos !== bNanos) return aNanos < bNanos ? -1 : 1;
  return a.Id < b.Id ? -1 : a.Id > b.Id ? 1 : 0;
}

// RFC 3339 with up to nine fraction digits (trailing zeros trimmed): compare seconds, then nanos.
function createdKey(created: string): [number, string] {
  const match = /^([^.]*?)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(created);
  if (!match) return [Number.POSITIVE_INFINITY, ''];
  const seconds = Date.parse(`${match[1]}${match[3]}`);
  return [Number.isNaN(seconds) ? Number.POSITIVE_INFINITY : seconds, (match[2] ?? '').padEnd(9, '0')];
}

/**
 * Whether a container's creation or start failed because of its network: gone (removed since it
 * was looked up, or never there) or ambiguous (two networks of that name, from racing creations).
 */
export function isNetworkTrouble(error: unknown): boolean {
  const status = engineStatus(error);
  const message = engineMessage(error);
  return (
    (status === 404 && /\bnetwork\b.*\bnot found\b/i.test(message)) ||
    (status !== undefined && /\bnetwork\b.*\bambiguous\b/i.test(message))
  );
}

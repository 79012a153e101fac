import { isIP } from 'node:net';
import { DEFAULT_NAMESPACE, invalidOption, validateNamespace } from '@dde/core';
import type Dockerode from 'dockerode';
import type { EngineClientOptions } from './engine.ts';
import { DEFAULT_MEMORY_LIMIT_FACTOR } from './hardening.ts';
import type { RegistryAuth } from './image.ts';
import type { UpstreamMode } from './upstream.ts';

/** When {@link DockerBackend.launch} pulls the image. */
export type PullPolicy = 'missing' | 'always' | 'never';

/** Options of {@link DockerBackend}. */
export interface DockerBackendOptions {
  /**
   * The dockerode client to use. Default: one built from the docker CLI's configuration
   * (`DOCKER_HOST`, `DOCKER_CONTEXT`, the current context, else `/var/run/docker.sock`; see
   * {@link resolveEngine}). Give your own to reuse a client; do not give it a `timeout`, which
   * cuts the long event and log streams.
   */
  docker?: Dockerode;
  /**
   * Which containers this backend owns: several applications (or a test run) can share an
   * engine without seeing each other's containers. Default `"default"`.
   */
  namespace?: string;
  /**
   * How the proxy reaches containers (see {@link UpstreamMode}). Default `auto`: the bridge
   * address for a local engine on Linux, the published port otherwise.
   */
  upstream?: UpstreamMode;
  /**
   * Host address to publish container ports on. Default `127.0.0.1` for a local engine. A remote
   * engine needs one (its address that the proxy can reach, e.g. a private VPC address) unless
   * `upstream` is `bridge`. `0.0.0.0` exposes every container on every interface of the host:
   * only when you really mean it.
   */
  publishHostIp?: string;
  /**
   * Docker network the containers join. Default: the namespace's own network,
   * `dde-<namespace>`, a bridge with inter-container traffic disabled, so that one user's tool
   * cannot reach another's except through the proxy (and its `authorize`). dde creates it on the
   * first launch and adopts it afterwards; `DockerBackend.removeNetwork()` removes it. Name an
   * existing network (e.g. `bridge`, the engine's default) only for tools that must talk to
   * each other: dde neither creates nor removes it.
   */
  network?: string;
  /**
   * The memory limit of a container whose spec gives a `memoryReservationMb` but no
   * `memoryLimitMb`, as a multiple of the reservation, so that one tool cannot take the host's
   * memory. Default 4; `false` sets no limit (the pre-0.2 behaviour). A spec's own
   * `memoryLimitMb` always wins.
   */
  memoryLimitFactor?: number | false;
  /** When to pull the image: `missing` (default), `always`, or `never` (fail if absent). */
  pullPolicy?: PullPolicy;
  /** Registry credentials for pulls. */
  registryAuth?: RegistryAuth;
  /**
   * Extra arguments for `ssh` when the engine is `ssh://` (see {@link EngineClientOptions}),
   * e.g. `['-i', '/etc/dde/id_ed25519', '-o', 'UserKnownHostsFile=/etc/dde/known_hosts']`.
   * Ignored with your own `docker` client.
   */
  sshArgs?: readonly string[];
  /**
   * How long a failed or aborted launch may spend removing what it created, once the launch's
   * own signal has ended (a launch that fails for another reason cleans up within its signal).
   * Bounds the wait on an engine that accepts connections but never answers. Default 10 000 ms.
   */
  cleanupTimeoutMs?: number;
}

/** The validated form of {@link DockerBackendOptions}. */
export interface ResolvedOptions {
  readonly docker: Dockerode | undefined;
  readonly namespace: string;
  readonly upstream: UpstreamMode;
  readonly publishHostIp: string | undefined;
  readonly network: string | undefined;
  readonly memoryLimitFactor: number | false;
  readonly pullPolicy: PullPolicy;
  readonly registryAuth: RegistryAuth | undefined;
  readonly sshArgs: readonly string[];
  readonly cleanupTimeoutMs: number;
}

const KNOWN = new Set([
  'docker',
  'namespace',
  'upstream',
  'publishHostIp',
  'network',
  'memoryLimitFactor',
  'pullPolicy',
  'registryAuth',
  'sshArgs',
  'cleanupTimeoutMs',
]);
const UPSTREAM_MODES: readonly UpstreamMode[] = ['auto', 'bridge', 'published'];
const PULL_POLICIES: readonly PullPolicy[] = ['missing', 'always', 'never'];
const MAX_MEMORY_LIMIT_FACTOR = 1024;
const NETWORK = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Validates options; throws `INVALID_OPTION` naming the first field at fault. */
export function validateOptions(options: DockerBackendOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw invalidOption('options', 'must be an object such as { namespace: "my-app" }');
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key))
      throw invalidOption(key, `is not an option of DockerBackend (known: ${[...KNOWN].join(', ')})`);
  }
  const {
    docker,
    upstream = 'auto',
    publishHostIp,
    network,
    memoryLimitFactor = DEFAULT_MEMORY_LIMIT_FACTOR,
    pullPolicy = 'missing',
    registryAuth,
    sshArgs = [],
    cleanupTimeoutMs = 10_000,
  } = options;
  if (
    docker !== undefined &&
    (typeof docker !== 'object' || docker === null || typeof docker.modem?.dial !== 'function')
  ) {
    throw invalidOption('docker', 'must be a dockerode instance (new Dockerode(...))');
  }
  const namespace = validateNamespace(options.namespace ?? DEFAULT_NAMESPACE);
  if (!UPSTREAM_MODES.includes(upstream)) {
    throw invalidOption(
      'upstream',
      `must be one of ${UPSTREAM_MODES.join(', ')}, got ${JSON.stringify(upstream)}`,
    );
  }
  if (publishHostIp !== undefined && (typeof publishHostIp !== 'string' || isIP(publishHostIp) === 0)) {
    throw invalidOption(
      'publishHostIp',
      `must be an IP address such as 10.0.1.5, got ${JSON.stringify(publishHostIp)}`,
    );
  }
  if (network !== undefined && (typeof network !== 'string' || !NETWORK.test(network))) {
    throw invalidOption('network', `must be a Docker network name, got ${JSON.stringify(network)}`);
  }
  if (
    memoryLimitFactor !== false &&
    (typeof memoryLimitFactor !== 'number' ||
      !Number.isFinite(memoryLimitFactor) ||
      memoryLimitFactor < 1 ||
      memoryLimitFactor > MAX_MEMORY_LIMIT_FACTOR)
  ) {
    throw invalidOption(
      'memoryLimitFactor',
      `must be a number from 1 to ${MAX_MEMORY_LIMIT_FACTOR} (the limit as a multiple of the reservation), or false for no default limit, got ${String(memoryLimitFactor)}`,
    );
  }
  if (!PULL_POLICIES.includes(pullPolicy)) {
    throw invalidOption(
      'pullPolicy',
      `must be one of ${PULL_POLICIES.join(', ')}, got ${JSON.stringify(pullPolicy)}`,
    );
  }
  validateRegistryAuth(registryAuth);
  if (!Array.isArray(sshArgs) || sshArgs.some((argument) => typeof argument !== 'string')) {
    throw invalidOption(
      'sshArgs',
      `must be an array of strings such as ['-i', '/keys/dde'], got ${JSON.stringify(sshArgs)}`,
    );
  }
  if (typeof cleanupTimeoutMs !== 'number' || !Number.isFinite(cleanupTimeoutMs) || cleanupTimeoutMs <= 0) {
    throw invalidOption(
      'cleanupTimeoutMs',
      `must be a positive number of milliseconds, got ${String(cleanupTimeoutMs)}`,
    );
  }
  return {
    docker,
    namespace,
    upstream,
    publishHostIp,
    network,
    memoryLimitFactor,
    pullPolicy,
    registryAuth,
    sshArgs,
    cleanupTimeoutMs,
  };
}

function validateRegistryAuth(auth: unknown): void {
  if (auth === undefined || typeof auth === 'function') return;
  if (typeof auth !== 'object' || auth === null || Array.isArray(auth)) {
    throw invalidOption(
      'registryAuth',
      'must map registry hosts to credentials, or be a function of the registry host',
    );
  }
  for (const [registry, credentials] of Object.entries(auth)) {
    const field = `registryAuth.${registry}`;
    if (typeof credentials !== 'object' || credentials === null) {
      throw invalidOption(field, 'must be an object such as { username, password }');
    }
    for (const [key, value] of Object.entries(credentials)) {
      if (!['username', 'password', 'identityToken', 'registryToken'].includes(key)) {
        throw invalidOption(
          `${field}.${key}`,
          'is not a credential field (username, password, identityToken, registryToken)',
        );
      }
      if (typeof value !== 'string') throw invalidOption(`${field}.${key}`, 'must be a string');
    }
  }
}

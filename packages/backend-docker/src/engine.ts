import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { isIP } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { invalidOption } from '@dde/core';
import Dockerode, { type DockerOptions } from 'dockerode';
import { SshAgent } from './ssh.ts';

/** TLS material for a TCP engine endpoint, read from PEM files. */
export interface EngineTls {
  /** Verify the engine's certificate (`DOCKER_TLS_VERIFY`, or a context without `SkipTLSVerify`). */
  readonly verify: boolean;
  /** CA certificate; the system roots are used when absent. */
  readonly ca: Buffer | undefined;
  /** Client certificate. */
  readonly cert: Buffer | undefined;
  /** Client key. */
  readonly key: Buffer | undefined;
}

/** A unix socket (or Windows named pipe) of a local engine. */
export interface SocketEndpoint {
  /** Discriminant. */
  readonly kind: 'socket';
  /** E.g. `/var/run/docker.sock` or `//./pipe/docker_engine`. */
  readonly socketPath: string;
}

/** An engine listening on TCP, with or without TLS. */
export interface TcpEndpoint {
  /** Discriminant. */
  readonly kind: 'tcp';
  /** Host name or IP address. */
  readonly host: string;
  /** Port: 2376 by convention with TLS, 2375 without. */
  readonly port: number;
  /** TLS settings, or undefined for plain HTTP. */
  readonly tls: EngineTls | undefined;
}

/** An engine reached over SSH (`docker system dial-stdio` on the remote host). */
export interface SshEndpoint {
  /** Discriminant. */
  readonly kind: 'ssh';
  /** SSH host. */
  readonly host: string;
  /** SSH port, 22 by default. */
  readonly port: number;
  /** SSH user, or undefined for the SSH default. */
  readonly username: string | undefined;
}

/** How to reach a Docker Engine. */
export type EngineEndpoint = SocketEndpoint | TcpEndpoint | SshEndpoint;

/** A Docker Engine endpoint and where its configuration came from. */
export interface ResolvedEngine {
  /** How to connect. */
  readonly endpoint: EngineEndpoint;
  /** The engine's address for messages, e.g. `unix:///var/run/docker.sock`. */
  readonly url: string;
  /** Where the address came from: `DOCKER_HOST`, `context "name"`, or `default socket`. */
  readonly source: string;
  /**
   * Whether the engine runs on this machine (a unix socket or named pipe, or TCP on a loopback
   * address), so that container bridge addresses and 127.0.0.1 ports are reachable from here.
   */
  readonly local: boolean;
}

/** Inputs of {@link resolveEngine}; by default the process's environment and home directory. */
export interface ResolveEngineOptions {
  /** Environment to read `DOCKER_*` variables from. Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Home directory, for `~/.docker`. Default `os.homedir()`. */
  homedir?: string;
}

/** How {@link createDockerClient} and {@link dockerodeOptions} connect, beyond the endpoint. */
export interface EngineClientOptions {
  /**
   * Extra arguments for `ssh` when the endpoint is `ssh://` (placed before the host), e.g.
   * `['-i', '/etc/dde/id_ed25519', '-o', 'UserKnownHostsFile=/etc/dde/known_hosts']`. Default
   * none: `~/.ssh/config`, `~/.ssh/known_hosts`, the default keys and `SSH_AUTH_SOCK` apply.
   */
  readonly sshArgs?: readonly string[];
}

/** The socket the docker CLI uses when nothing else is configured. */
export const DEFAULT_SOCKET_PATH = '/var/run/docker.sock';
const DEFAULT_NPIPE_PATH = '//./pipe/docker_engine';

/**
 * Finds the Docker Engine the way the docker CLI does:
 * 1. `DOCKER_HOST` (`unix://`, `npipe://`, `tcp://`, `ssh://`, or a bare `host:port` meaning tcp),
 *    with TLS when `DOCKER_TLS_VERIFY` or `DOCKER_TLS` is set, certificates from `DOCKER_CERT_PATH`
 *    (default the docker config directory);
 * 2. else the context named by `DOCKER_CONTEXT`, or the `currentContext` of
 *    `$DOCKER_CONFIG/config.json` (default `~/.docker`), unless it is `default`;
 * 3. else the local socket `/var/run/docker.sock`.
 *
 * Throws `INVALID_OPTION` naming the variable or file at fault.
 */
export function resolveEngine(options: ResolveEngineOptions = {}): ResolvedEngine {
  const env = options.env ?? process.env;
  const configDir = env.DOCKER_CONFIG || join(options.homedir ?? homedir(), '.docker');
  const dockerHost = env.DOCKER_HOST;
  if (dockerHost) {
    const tlsVerify = Boolean(env.DOCKER_TLS_VERIFY);
    const useTls = tlsVerify || Boolean(env.DOCKER_TLS);
    const tls = useTls ? readTls(env.DOCKER_CERT_PATH || configDir, tlsVerify) : undefined;
    return describe(parseDockerHost(dockerHost, 'DOCKER_HOST', tls), 'DOCKER_HOST');
  }
  const contextName = env.DOCKER_CONTEXT || currentContext(configDir);
  if (contextName && contextName !== 'default') {
    const field = env.DOCKER_CONTEXT ? 'DOCKER_CONTEXT' : `${join(configDir, 'config.json')} currentContext`;
    return describe(readContext(configDir, contextName, field), `context "${contextName}"`);
  }
  return describe({ kind: 'socket', socketPath: DEFAULT_SOCKET_PATH }, 'default socket');
}

/**
 * Parses a docker host address (`DOCKER_HOST` syntax). A bare `host:port` means tcp; tcp
 * defaults to port 2376 with TLS and 2375 without, as the docker CLI does.
 */
export function parseDockerHost(address: string, field: string, tls: EngineTls | undefined): EngineEndpoint {
  const withScheme = address.includes('://') ? address : `tcp://${address}`;
  const scheme = withScheme.slice(0, withScheme.indexOf('://'));
  const rest = withScheme.slice(scheme.length + 3);
  switch (scheme) {
    case 'unix':
      return { kind: 'socket', socketPath: rest || DEFAULT_SOCKET_PATH };
    case 'npipe':
      return { kind: 'socket', socketPath: rest || DEFAULT_NPIPE_PATH };
    case 'tcp':
    case 'ssh': {
      let url: URL;
      try {
        // The CLI reads an empty host (tcp://:2375) as localhost; URL refuses it.
        const authority = rest.startsWith(':') ? `localhost${rest}` : rest;
        url = new URL(`${scheme === 'tcp' ? 'http' : 'ssh'}://${authority}`);
      } catch {
        throw invalidOption(
          field,
          `"${address}" is not a valid address: use e.g. tcp://host:2376 or ssh://user@host`,
        );
      }
      if (url.pathname !== '/' && url.pathname !== '') {
        throw invalidOption(field, `"${address}" has a path, which dde does not support: remove it`);
      }
      const host = stripBrackets(url.hostname) || 'localhost';
      if (scheme === 'ssh') {
        const username = url.username ? decodeURIComponent(url.username) : undefined;
        return { kind: 'ssh', host, port: url.port ? Number(url.port) : 22, username };
      }
      const port = url.port ? Number(url.port) : tls ? 2376 : 2375;
      return { kind: 'tcp', host, port, tls };
    }
    default:
      throw invalidOption(
        field,
        `"${address}" uses the unsupported scheme "${scheme}": use unix://, npipe://, tcp:// or ssh://`,
      );
  }
}

/** Whether `host` names this machine's loopback interface (`localhost`, 127.0.0.0/8, `::1`). */
export function isLoopbackHost(host: string): boolean {
  const bare = stripBrackets(host).toLowerCase();
  if (bare === 'localhost' || bare.endsWith('.localhost')) return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) === 6) return bare === '::1' || bare === '0:0:0:0:0:0:0:1';
  return false;
}

/** Whether an endpoint is on this machine (see {@link ResolvedEngine.local}). */
export function isLocalEndpoint(endpoint: EngineEndpoint): boolean {
  if (endpoint.kind === 'socket') return true;
  if (endpoint.kind === 'tcp') return isLoopbackHost(endpoint.host);
  return false;
}

/**
 * Dockerode constructor options for an endpoint. Every connection field is set explicitly,
 * undefined included, because docker-modem merges its own reading of `DOCKER_HOST`,
 * `DOCKER_CERT_PATH` and `DOCKER_CLIENT_TIMEOUT` under the options it is given: a host from the
 * environment would silently win over a socket path, and a client timeout would cut event and
 * log streams. No timeout is set: each operation carries its own AbortSignal. Build the client
 * with {@link createDockerClient}, which also keeps docker-modem from reading the environment.
 */
export function dockerodeOptions(endpoint: EngineEndpoint, options: EngineClientOptions = {}): DockerOptions {
  const cleared = {
    socketPath: undefined,
    host: undefined,
    port: undefined,
    protocol: undefined,
    ca: undefined,
    cert: undefined,
    key: undefined,
    timeout: undefined,
    pathPrefix: '/',
  };
  switch (endpoint.kind) {
    case 'socket':
      return { ...cleared, socketPath: endpoint.socketPath, protocol: 'http' };
    case 'tcp': {
      const tls = endpoint.tls;
      if (!tls) return { ...cleared, host: endpoint.host, port: endpoint.port, protocol: 'http' };
      const material = { ca: tls.ca, cert: tls.cert, key: tls.key };
      return {
        ...cleared,
        host: endpoint.host,
        port: endpoint.port,
        protocol: 'https',
        ...material,
        // https requests merge their agent's options over their own: only an agent can turn
        // verification off, which SkipTLSVerify contexts ask for.
        ...(tls.verify ? {} : { agent: new Agent({ ...material, rejectUnauthorized: false }) }),
      } as DockerOptions;
    }
    case 'ssh':
      // Plain HTTP over the system ssh, as the docker CLI connects: docker-modem's own ssh
      // support (the ssh2 package) checks no host key and opens a connection per call.
      return {
        ...cleared,
        host: endpoint.host,
        port: endpoint.port,
        protocol: 'http',
        agent: new SshAgent({
          host: endpoint.host,
          port: endpoint.port,
          username: endpoint.username,
          sshArgs: options.sshArgs ?? [],
        }),
      } as DockerOptions;
  }
}

// What docker-modem's constructor reads from the environment, whatever options it is given.
const MODEM_ENV = [
  'DOCKER_HOST',
  'DOCKER_CERT_PATH',
  'DOCKER_TLS_VERIFY',
  'DOCKER_CLIENT_TIMEOUT',
  'DOCKER_PATH_PREFIX',
];

/**
 * A dockerode client for an endpoint, with {@link dockerodeOptions}. Prefer it to
 * `new Dockerode(dockerodeOptions(endpoint))`: docker-modem's constructor reads `DOCKER_HOST`
 * and the certificates of `DOCKER_CERT_PATH` even when every option is given, and throws on
 * settings the docker CLI accepts (a `DOCKER_CERT_PATH` with only `ca.pem`, `tcp://:2375`).
 */
export function createDockerClient(endpoint: EngineEndpoint, options: EngineClientOptions = {}): Dockerode {
  const modemOptions = dockerodeOptions(endpoint, options);
  const saved = MODEM_ENV.map((key) => [key, process.env[key]] as const);
  for (const key of MODEM_ENV) delete process.env[key];
  try {
    return new Dockerode(modemOptions);
  } finally {
    for (const [key, value] of saved) if (value !== undefined) process.env[key] = value;
  }
}

/** The URL form of an endpoint, for messages. */
export function endpointUrl(endpoint: EngineEndpoint): string {
  switch (endpoint.kind) {
    case 'socket':
      return endpoint.socketPath.startsWith('//')
        ? `npipe://${endpoint.socketPath}`
        : `unix://${endpoint.socketPath}`;
    case 'tcp':
      return `tcp://${hostForUrl(endpoint.host)}:${endpoint.port}`;
    case 'ssh':
      return `ssh://${endpoint.username ? `${endpoint.username}@` : ''}${hostForUrl(endpoint.host)}:${endpoint.port}`;
  }
}

function describe(endpoint: EngineEndpoint, source: string): ResolvedEngine {
  return { endpoint, url: endpointUrl(endpoint), source, local: isLocalEndpoint(endpoint) };
}

function currentContext(configDir: string): string | undefined {
  const file = join(configDir, 'config.json');
  if (!existsSync(file)) return undefined;
  const config = readJson(file, file) as { currentContext?: unknown };
  return typeof config.currentContext === 'string' ? config.currentContext : undefined;
}

function readContext(configDir: string, name: string, field: string): EngineEndpoint {
  // The docker CLI stores each context under the SHA-256 of its name.
  const id = createHash('sha256').update(name).digest('hex');
  const metaFile = join(configDir, 'contexts', 'meta', id, 'meta.json');
  if (!existsSync(metaFile)) {
    throw invalidOption(
      field,
      `names the docker context "${name}", which does not exist (no ${metaFile}): run "docker context ls"`,
    );
  }
  const meta = readJson(metaFile, field) as {
    Endpoints?: { docker?: { Host?: unknown; SkipTLSVerify?: unknown } };
  };
  const docker = meta.Endpoints?.docker;
  if (typeof docker?.Host !== 'string' || docker.Host === '') {
    throw invalidOption(field, `docker context "${name}" has no docker endpoint host in ${metaFile}`);
  }
  const tlsDir = join(configDir, 'contexts', 'tls', id, 'docker');
  const skipVerify = docker.SkipTLSVerify === true;
  const files = readTlsFiles(tlsDir);
  const hasFiles = files.ca !== undefined || files.cert !== undefined || files.key !== undefined;
  // As in the CLI: TLS when the context stores TLS material or asks to skip verification.
  const tls = hasFiles || skipVerify ? { verify: !skipVerify, ...files } : undefined;
  return parseDockerHost(docker.Host, field, tls);
}

function readTls(directory: string, verify: boolean): EngineTls {
  return { verify, ...readTlsFiles(directory) };
}

// The CLI ignores missing files: no ca.pem means the system roots, no cert.pem means no client certificate.
function readTlsFiles(directory: string): Omit<EngineTls, 'verify'> {
  const read = (file: string) => {
    const path = join(directory, file);
    return existsSync(path) ? readFileSync(path) : undefined;
  };
  return { ca: read('ca.pem'), cert: read('cert.pem'), key: read('key.pem') };
}

function readJson(file: string, field: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw invalidOption(field, `could not be read as JSON from ${file}: ${(error as Error).message}`);
  }
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function hostForUrl(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}

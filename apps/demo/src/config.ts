/**
 * The demo's settings, from command-line flags and `DDE_DEMO_*` environment variables (flags
 * win), checked up front so that a bad setting stops the start with a clear message.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseDuration, validateNamespace } from '@dde/core';

/** How tool containers get their public URLs. */
export type RoutingMode = 'path' | 'hostname';

/** Everything the demo needs to know to start. */
export interface DemoConfig {
  /** Port people open (default 8000). */
  readonly port: number;
  /** Address to listen on (default `127.0.0.1`; `0.0.0.0` to serve other machines). */
  readonly host: string;
  /** `path`: tools under `/docker/<name>/`; `hostname`: tools at `<name>.<domain>`. */
  readonly routing: RoutingMode;
  /** Domain tools live under in hostname mode (default `docker.localhost`). */
  readonly domain: string;
  /** Where people open the demo, e.g. `http://localhost:8000`. */
  readonly publicOrigin: string;
  /** Whether people sign in and see only their own containers. */
  readonly login: boolean;
  /** Which backend runs containers (only `docker` exists today). */
  readonly backend: 'docker';
  /** Namespace label of the demo's containers (default `dde-demo`). */
  readonly namespace: string;
  /** Start of the tool images' names (default `dde-demo`: `dde-demo-viewer:<hash>`). */
  readonly imagePrefix: string;
  /** Memory budget for all tool containers, in MB. */
  readonly budgetMb: number;
  /** Containers idle this long are removed (ms); undefined: never. */
  readonly idleTimeoutMs: number | undefined;
  /** Most containers one person (owner) may have at once; undefined: no limit. */
  readonly maxPerOwner: number | undefined;
  /** Most containers in all, failed ones included (default 50). */
  readonly maxContainers: number;
  /** Remove the namespace's containers at shutdown instead of leaving them running. */
  readonly removeOnExit: boolean;
  /** Where uploads, request history and the signing secret are kept. */
  readonly dataDir: string;
  /** Address the data listener binds (default: the Docker network's gateway). */
  readonly dataHost: string | undefined;
  /** Port of the data listener (default 0: any free port). */
  readonly dataPort: number;
  /** The origin containers use to fetch data (default `http://<data host>:<data port>`). */
  readonly dataOrigin: string | undefined;
  /** Docker network the containers join (default: the namespace's own, where tools cannot reach each other). */
  readonly network: string | undefined;
  /** Largest upload accepted, in bytes. */
  readonly maxUploadBytes: number;
  /**
   * Redis server whose shared state (activity history, admission, culling) this instance shares
   * with the other instances of the namespace; undefined: state in this process only (history in
   * the data directory).
   */
  readonly redisUrl: string | undefined;
}

/** A setting the demo cannot start with; the message says which and how to fix it. */
export class ConfigError extends Error {
  /** @param message - what is wrong and how to fix it. */
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** The `--help` text. */
export const USAGE = `Usage: npm run demo -- [options]

  --port <n>            port to serve on (DDE_DEMO_PORT, default 8000)
  --host <address>      address to listen on (DDE_DEMO_HOST, default 127.0.0.1)
  --routing <mode>      path | hostname (DDE_DEMO_ROUTING, default path)
  --domain <domain>     tools live at <name>.<domain> in hostname mode (DDE_DEMO_DOMAIN, default docker.localhost)
  --public-url <url>    where people open the demo (DDE_DEMO_PUBLIC_URL)
  --login               people sign in and see only their own containers (DDE_DEMO_LOGIN=1)
  --backend <kind>      docker (DDE_DEMO_BACKEND; ecs once @dde/backend-ecs exists)
  --namespace <ns>      label of the demo's containers (DDE_DEMO_NAMESPACE, default dde-demo)
  --image-prefix <p>    start of tool image names (DDE_DEMO_IMAGE_PREFIX, default dde-demo)
  --budget-mb <n>       memory budget of all tool containers (DDE_DEMO_BUDGET_MB, default 1024)
  --idle-timeout <d>    remove containers idle this long, e.g. 30m (DDE_DEMO_IDLE_TIMEOUT; default never)
  --max-per-owner <n>   most containers one person may have at once (DDE_DEMO_MAX_PER_OWNER; default no limit)
  --max-containers <n>  most containers in all, failed ones included (DDE_DEMO_MAX_CONTAINERS, default 50)
  --remove-on-exit      remove the containers at shutdown (DDE_DEMO_REMOVE_ON_EXIT=1; default: leave them running)
  --data-dir <dir>      uploads, history, secret (DDE_DEMO_DATA_DIR, default <tmp>/dde-demo/<namespace>)
  --data-host <addr>    where containers fetch data from (DDE_DEMO_DATA_HOST, default the Docker network gateway)
  --data-port <n>       port of that listener (DDE_DEMO_DATA_PORT, default any free port)
  --data-origin <url>   URL containers use for it (DDE_DEMO_DATA_ORIGIN, default http://<data-host>:<data-port>)
  --network <name>      Docker network of the containers (DDE_DEMO_NETWORK, default dde-<namespace>,
                        where tools cannot reach each other)
  --max-upload-mb <n>   largest upload (DDE_DEMO_MAX_UPLOAD_MB, default 5)
  --redis <url>         share activity, admission and culling with other instances of the namespace
                        through Redis, e.g. redis://127.0.0.1:6379 (DDE_DEMO_REDIS; default: this
                        instance alone, history in the data directory)
  --help                this text
`;

const OPTIONS = {
  port: { type: 'string' },
  host: { type: 'string' },
  routing: { type: 'string' },
  domain: { type: 'string' },
  'public-url': { type: 'string' },
  login: { type: 'boolean' },
  backend: { type: 'string' },
  namespace: { type: 'string' },
  'image-prefix': { type: 'string' },
  'budget-mb': { type: 'string' },
  'idle-timeout': { type: 'string' },
  'max-per-owner': { type: 'string' },
  'max-containers': { type: 'string' },
  'remove-on-exit': { type: 'boolean' },
  'data-dir': { type: 'string' },
  'data-host': { type: 'string' },
  'data-port': { type: 'string' },
  'data-origin': { type: 'string' },
  network: { type: 'string' },
  'max-upload-mb': { type: 'string' },
  redis: { type: 'string' },
  help: { type: 'boolean' },
} as const;

/** Whether the arguments ask for the usage text. */
export function wantsHelp(argv: readonly string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

/** Reads the settings from `argv` (without node and script) and `env`. Throws {@link ConfigError}. */
export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): DemoConfig {
  let values: ReturnType<typeof parseFlags>;
  try {
    values = parseFlags(argv);
  } catch (error) {
    throw new ConfigError(`${(error as Error).message}\n\n${USAGE}`);
  }
  const pick = (flag: keyof typeof OPTIONS, variable: string): string | undefined => {
    const value = values[flag];
    return typeof value === 'string' ? value : emptyToUndefined(env[variable]);
  };
  const flagOn = (flag: keyof typeof OPTIONS, variable: string): boolean =>
    values[flag] === true || /^(1|true|yes|on)$/i.test(env[variable] ?? '');

  const port = integer('--port', pick('port', 'DDE_DEMO_PORT') ?? '8000', 0, 65_535);
  const routing = oneOf('--routing', pick('routing', 'DDE_DEMO_ROUTING') ?? 'path', [
    'path',
    'hostname',
  ] as const);
  const domain = (pick('domain', 'DDE_DEMO_DOMAIN') ?? 'docker.localhost').toLowerCase();
  if (!/^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(domain)) {
    throw new ConfigError(`--domain must be a domain name such as docker.localhost, got "${domain}"`);
  }
  const backend = pick('backend', 'DDE_DEMO_BACKEND') ?? 'docker';
  if (backend === 'ecs') {
    throw new ConfigError(
      '--backend ecs is not available yet: @dde/backend-ecs does not exist in this repository. Use --backend docker.',
    );
  }
  if (backend !== 'docker') throw new ConfigError(`--backend must be docker, got "${backend}"`);
  const namespace = pick('namespace', 'DDE_DEMO_NAMESPACE') ?? 'dde-demo';
  try {
    validateNamespace(namespace);
  } catch (error) {
    throw new ConfigError(`--namespace: ${(error as Error).message}`);
  }
  const imagePrefix = pick('image-prefix', 'DDE_DEMO_IMAGE_PREFIX') ?? 'dde-demo';
  if (!/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/.test(imagePrefix) || imagePrefix.length > 60) {
    throw new ConfigError(
      `--image-prefix must be lowercase letters, digits, ".", "_" or "-", got "${imagePrefix}"`,
    );
  }
  const idle = pick('idle-timeout', 'DDE_DEMO_IDLE_TIMEOUT');
  let idleTimeoutMs: number | undefined;
  if (idle !== undefined) {
    try {
      idleTimeoutMs = parseDuration(idle, '--idle-timeout');
    } catch (error) {
      throw new ConfigError((error as Error).message);
    }
  }
  const perOwner = pick('max-per-owner', 'DDE_DEMO_MAX_PER_OWNER');
  const maxPerOwner = perOwner === undefined ? undefined : integer('--max-per-owner', perOwner, 1, 10_000);
  const defaultOrigin = `http://${routing === 'hostname' ? domain : 'localhost'}${port === 80 ? '' : `:${port}`}`;
  const publicOrigin = origin('--public-url', pick('public-url', 'DDE_DEMO_PUBLIC_URL') ?? defaultOrigin);
  const dataOrigin = pick('data-origin', 'DDE_DEMO_DATA_ORIGIN');
  return {
    port,
    host: pick('host', 'DDE_DEMO_HOST') ?? '127.0.0.1',
    routing,
    domain,
    publicOrigin,
    login: flagOn('login', 'DDE_DEMO_LOGIN'),
    backend,
    namespace,
    imagePrefix,
    budgetMb: integer('--budget-mb', pick('budget-mb', 'DDE_DEMO_BUDGET_MB') ?? '1024', 64, 1_048_576),
    idleTimeoutMs,
    maxPerOwner,
    maxContainers: integer(
      '--max-containers',
      pick('max-containers', 'DDE_DEMO_MAX_CONTAINERS') ?? '50',
      1,
      10_000,
    ),
    removeOnExit: flagOn('remove-on-exit', 'DDE_DEMO_REMOVE_ON_EXIT'),
    dataDir: pick('data-dir', 'DDE_DEMO_DATA_DIR') ?? join(tmpdir(), 'dde-demo', namespace),
    dataHost: pick('data-host', 'DDE_DEMO_DATA_HOST'),
    dataPort: integer('--data-port', pick('data-port', 'DDE_DEMO_DATA_PORT') ?? '0', 0, 65_535),
    dataOrigin: dataOrigin === undefined ? undefined : origin('--data-origin', dataOrigin),
    network: pick('network', 'DDE_DEMO_NETWORK'),
    maxUploadBytes:
      integer('--max-upload-mb', pick('max-upload-mb', 'DDE_DEMO_MAX_UPLOAD_MB') ?? '5', 1, 1024) *
      1024 *
      1024,
    redisUrl: redisUrl(pick('redis', 'DDE_DEMO_REDIS')),
  };
}

function parseFlags(argv: readonly string[]) {
  return parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false }).values;
}

function emptyToUndefined(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function integer(flag: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || value < min || value > max) {
    throw new ConfigError(`${flag} must be a whole number from ${min} to ${max}, got "${text}"`);
  }
  return value;
}

function oneOf<T extends string>(flag: string, text: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(text)) {
    throw new ConfigError(`${flag} must be one of ${choices.join(', ')}, got "${text}"`);
  }
  return text as T;
}

/** A `redis://` or `rediss://` URL with a host (and at most a database number as its path). */
function redisUrl(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const example = 'such as redis://127.0.0.1:6379 (or rediss://user:password@host:6380/0 with TLS)';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(`--redis must be a redis:// or rediss:// URL ${example}, got "${text}"`);
  }
  // Never echo a password back into logs.
  const shown = url.password === '' ? text : text.replace(`:${url.password}@`, ':***@');
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new ConfigError(`--redis must be a redis:// or rediss:// URL ${example}, got "${shown}"`);
  }
  if (url.hostname === '') throw new ConfigError(`--redis needs a host, ${example}, got "${shown}"`);
  if (!/^(?:\/\d{0,2})?$/.test(url.pathname) || url.search !== '' || url.hash !== '') {
    throw new ConfigError(
      `--redis takes at most a database number after the host (e.g. redis://127.0.0.1:6379/0), got "${shown}"`,
    );
  }
  return text;
}

function origin(flag: string, text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(
      `${flag} must be an absolute http(s) URL such as http://localhost:8000, got "${text}"`,
    );
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.pathname.replace(/\/+$/, '') !== '') {
    throw new ConfigError(
      `${flag} must be an http(s) origin without a path, such as http://localhost:8000, got "${text}"`,
    );
  }
  return url.origin;
}

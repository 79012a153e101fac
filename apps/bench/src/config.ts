/** Benchmark settings from command-line flags, else `BENCH_*` environment variables, else defaults. */
import { parseArgs } from 'node:util';
import { SUITE_IDS, type SuiteId } from './suites/types.ts';

/** Settings of one benchmark run. */
export interface BenchConfig {
  /** The suites to run, in order (`proxy` alone by default). */
  readonly suites: readonly SuiteId[];
  /** Measured seconds per target. */
  readonly seconds: number;
  /** Unmeasured warm-up seconds before each measurement. */
  readonly warmupSeconds: number;
  /** Rounds over all targets; each of a target's figures is its median over them. */
  readonly rounds: number;
  /** Concurrent HTTP connections. */
  readonly connections: number;
  /** Concurrent WebSocket connections. */
  readonly wsConnections: number;
  /** WebSocket message size in bytes. */
  readonly wsMessageBytes: number;
  /** Load generator: `wrk` when installed, else `autocannon`, unless forced. */
  readonly load: 'auto' | 'wrk' | 'autocannon';
  /** wrk threads (1 leaves the second of 2 cores to the proxy). */
  readonly wrkThreads: number;
  /** nginx worker processes (1 matches a single Node process). */
  readonly nginxWorkers: number;
  /** Size of the large transfers of the `ws` and `bodies` suites, in MB (10^6 bytes). */
  readonly transferMB: number;
  /** Size of the echoed WebSocket frame of the `ws` suite, in MiB. */
  readonly frameMiB: number;
  /** Large transfers per target and round; the figure is their median. */
  readonly transferRepeats: number;
  /** Caddy's GOMAXPROCS (1 matches a single Node process). */
  readonly caddyProcs: number;
  /** Write CPU profiles of dde's measured runs to `results/profiles/`. */
  readonly cpuProf: boolean;
  /** Only these target ids, when set. */
  readonly only: ReadonlySet<string> | undefined;
  /** coldstart: launches per tool and contestant. */
  readonly launches: number;
  /** coldstart: the slow tool listens this many ms after it starts. */
  readonly listenDelayMs: number;
  /** burst: how many launches at once, one burst per size. */
  readonly burstSizes: readonly number[];
  /** burst: the `maxConcurrentStarts` settings to measure (besides none). */
  readonly burstStartLimits: readonly number[];
  /** scale: live containers. */
  readonly scaleCount: number;
}

/** The `--help` text. */
export const USAGE = `Usage: npm run bench -w @dde/bench -- [options]   (or BENCH_* variables with npm run bench)

  --suite <ids>          comma-separated suites, or all: ${SUITE_IDS.join('|')}  (BENCH_SUITE, default proxy)
  --duration <s>         measured seconds per target        (BENCH_DURATION, default 8)
  --warmup <s>           warm-up seconds before each run    (BENCH_WARMUP, default 2)
  --rounds <n>           rounds over all targets, median kept (BENCH_ROUNDS, default 1)
  --connections <n>      concurrent HTTP connections        (BENCH_CONNECTIONS, default 32)
  --ws-connections <n>   concurrent WebSocket connections   (BENCH_WS_CONNECTIONS, default 32)
  --ws-message-bytes <n> WebSocket message size             (BENCH_WS_MESSAGE_BYTES, default 128)
  --load <name>          auto | wrk | autocannon            (BENCH_LOAD, default auto: wrk if installed)
  --wrk-threads <n>      wrk threads                        (BENCH_WRK_THREADS, default 1)
  --nginx-workers <n>    nginx worker processes             (BENCH_NGINX_WORKERS, default 1)
  --transfer-mb <n>      ws/bodies: large transfer size, MB  (BENCH_TRANSFER_MB, default 100)
  --frame-mib <n>        ws: echoed frame size, MiB         (BENCH_FRAME_MIB, default 16)
  --transfer-repeats <n> ws/bodies: transfers per target, median kept (BENCH_TRANSFER_REPEATS, default 3)
  --caddy-procs <n>      Caddy's GOMAXPROCS                 (BENCH_CADDY_PROCS, default 1)
  --cpu-prof             CPU profiles of dde's measured runs in results/profiles/  (BENCH_CPU_PROF=1)
  --only <ids>           comma-separated subset of: direct,dde-core,dde-koa,dde-express,nginx,caddy,chp
  --launches <n>         coldstart: launches per tool and contestant (BENCH_LAUNCHES, default 10)
  --listen-delay <ms>    coldstart: the slow tool's listen delay   (BENCH_LISTEN_DELAY, default 500)
  --burst <sizes>        burst: launches at once, comma-separated  (BENCH_BURST, default 50,100)
  --burst-limits <ns>    burst: maxConcurrentStarts settings       (BENCH_BURST_LIMITS, default 4,16)
  --scale <n>            scale: live containers                    (BENCH_SCALE, default 500)
`;

function positive(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got "${value}"`);
  return n;
}

function integer(name: string, value: string | undefined, fallback: number): number {
  const n = positive(name, value, fallback);
  if (!Number.isInteger(n)) throw new Error(`--${name} must be a whole number, got "${value}"`);
  return n;
}

function integers(name: string, value: string | undefined, fallback: readonly number[]): number[] {
  if (value === undefined || value === '') return [...fallback];
  return value.split(',').map((part) => {
    const n = Number(part.trim());
    if (part.trim() === '' || !Number.isInteger(n) || n < 1) {
      throw new Error(`--${name} must list whole numbers >= 1 separated by commas, got "${value}"`);
    }
    return n;
  });
}

function readSuites(value: string | undefined): SuiteId[] {
  if (value === undefined || value === '') return ['proxy'];
  if (value === 'all') return [...SUITE_IDS];
  const ids = value.split(',').map((id) => id.trim());
  for (const id of ids) {
    if (!(SUITE_IDS as readonly string[]).includes(id)) {
      throw new Error(`--suite: unknown suite "${id}"; use all or some of ${SUITE_IDS.join(', ')}`);
    }
  }
  return ids as SuiteId[];
}

/** Reads the settings; throws with the offending flag named on bad input. Undefined after `--help`. */
export function readConfig(
  argv: readonly string[] = process.argv.slice(2),
  env: NodeJS.ProcessEnv = process.env,
): BenchConfig | undefined {
  const flag = { type: 'string' } as const;
  const { values } = parseArgs({
    args: [...argv],
    options: {
      suite: flag,
      duration: flag,
      warmup: flag,
      rounds: flag,
      connections: flag,
      'ws-connections': flag,
      'ws-message-bytes': flag,
      load: flag,
      'wrk-threads': flag,
      'nginx-workers': flag,
      'caddy-procs': flag,
      'transfer-mb': flag,
      'frame-mib': flag,
      'transfer-repeats': flag,
      only: flag,
      launches: flag,
      'listen-delay': flag,
      burst: flag,
      'burst-limits': flag,
      scale: flag,
      'cpu-prof': { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return undefined;
  const load = values.load ?? env.BENCH_LOAD ?? 'auto';
  if (load !== 'auto' && load !== 'wrk' && load !== 'autocannon') {
    throw new Error(`--load must be auto, wrk or autocannon, got "${load}"`);
  }
  const only = values.only ?? env.BENCH_ONLY;
  return {
    suites: readSuites(values.suite ?? env.BENCH_SUITE),
    seconds: positive('duration', values.duration ?? env.BENCH_DURATION, 8),
    warmupSeconds: positive('warmup', values.warmup ?? env.BENCH_WARMUP, 2),
    rounds: integer('rounds', values.rounds ?? env.BENCH_ROUNDS, 1),
    connections: integer('connections', values.connections ?? env.BENCH_CONNECTIONS, 32),
    wsConnections: integer('ws-connections', values['ws-connections'] ?? env.BENCH_WS_CONNECTIONS, 32),
    wsMessageBytes: integer(
      'ws-message-bytes',
      values['ws-message-bytes'] ?? env.BENCH_WS_MESSAGE_BYTES,
      128,
    ),
    load,
    wrkThreads: integer('wrk-threads', values['wrk-threads'] ?? env.BENCH_WRK_THREADS, 1),
    nginxWorkers: integer('nginx-workers', values['nginx-workers'] ?? env.BENCH_NGINX_WORKERS, 1),
    transferMB: integer('transfer-mb', values['transfer-mb'] ?? env.BENCH_TRANSFER_MB, 100),
    frameMiB: integer('frame-mib', values['frame-mib'] ?? env.BENCH_FRAME_MIB, 16),
    transferRepeats: integer('transfer-repeats', values['transfer-repeats'] ?? env.BENCH_TRANSFER_REPEATS, 3),
    caddyProcs: integer('caddy-procs', values['caddy-procs'] ?? env.BENCH_CADDY_PROCS, 1),
    cpuProf: values['cpu-prof'] ?? (env.BENCH_CPU_PROF === '1' || env.BENCH_CPU_PROF === 'true'),
    only: only ? new Set(only.split(',').map((id) => id.trim())) : undefined,
    launches: integer('launches', values.launches ?? env.BENCH_LAUNCHES, 10),
    listenDelayMs: integer('listen-delay', values['listen-delay'] ?? env.BENCH_LISTEN_DELAY, 500),
    burstSizes: integers('burst', values.burst ?? env.BENCH_BURST, [50, 100]),
    burstStartLimits: integers('burst-limits', values['burst-limits'] ?? env.BENCH_BURST_LIMITS, [4, 16]),
    scaleCount: integer('scale', values.scale ?? env.BENCH_SCALE, 500),
  };
}

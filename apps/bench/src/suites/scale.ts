/**
 * Suite `scale`: hundreds of live containers in one namespace. Launches a busybox httpd tool
 * up to `--scale` (500) live, measuring the proxy's throughput to one of them along the way
 * (wrk through the Koa proxy, and direct to its bridge address as the machine's yardstick),
 * the manager's heap per route, one reconciliation's time and Engine API calls, and a fresh
 * manager's `start()` adopting them all. Then removes them and measures the one-live figure
 * again, so the comparison brackets the run.
 */
import { DockerBackend } from '@dde/backend-docker';
import { ContainerManager } from '@dde/core';
import { onCleanup } from '../cleanup.ts';
import { ownCpuTime } from '../cpu.ts';
import type { LoadGenerator, LoadResult } from '../load/types.ts';
import { wrkGenerator } from '../load/wrk.ts';
import { findExecutable } from '../processes.ts';
import { containersByState, total } from './launch/engine.ts';
import { nowMs } from './launch/poll.ts';
import { startStack } from './launch/stack.ts';
import { mapLimit, ms, ratio } from './launch/stats.ts';
import {
  buildHttpdImage,
  buildNodeToolImage,
  HTTPD_RESERVATION_MB,
  LAUNCH_DEADLINE_MS,
  TOOL_PORT,
} from './launch/tools.ts';
import { countingDocker } from './scale/engine-calls.ts';
import { heapAfterGc } from './scale/heap.ts';
import type { Cell, LineChart, Suite, SuiteCheck, SuiteResult } from './types.ts';

const MEASURED_RESERVATION_MB = 128;
// Launches and removals under way at once: the engine serialises much of the work anyway.
const CONCURRENCY = 16;

/** Throughput to the one measured tool with `live` containers running. */
export interface ScalePoint {
  readonly live: number;
  /** `up` while launching, `down` after removing the others. */
  readonly when: 'up' | 'down';
  readonly dde: LoadResult & { cpuUsPerRequest: number };
  readonly direct: LoadResult;
}

async function measure(
  generator: LoadGenerator,
  url: string,
  connections: number,
  seconds: number,
  warmupSeconds: number,
): Promise<LoadResult> {
  await generator.run(url, { connections, seconds: warmupSeconds });
  return generator.run(url, { connections, seconds });
}

/** Resolves once `count` routes are ready (one listener: a waitUntilReady per name would add 500). */
function allReady(manager: ContainerManager, count: number): Promise<void> {
  const ready = () => manager.list().filter((route) => route.phase === 'ready').length >= count;
  if (ready()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      manager.off('phase', check);
      reject(new Error(`not every adopted route was ready within ${LAUNCH_DEADLINE_MS} ms`));
    }, LAUNCH_DEADLINE_MS);
    const check = (): void => {
      if (!ready()) return;
      clearTimeout(timer);
      manager.off('phase', check);
      resolve();
    };
    manager.on('phase', check);
  });
}

function checkpoints(count: number): number[] {
  return [...new Set([1, Math.ceil(count / 4), Math.ceil(count / 2), count])].filter(
    (n) => n >= 1 && n <= count,
  );
}

/** The suite. */
export const scale: Suite = async (context) => {
  const { docker, namespace, config, log } = context;
  const count = config.scaleCount;
  const wrk = await findExecutable('wrk');
  if (wrk === undefined) throw new Error('the scale suite needs wrk (apt-get install wrk)');
  const generator = await wrkGenerator(wrk, config.wrkThreads);
  log('building the tool images (busybox httpd for the crowd, the node upstream for the measured one)...');
  const image = await buildHttpdImage(docker, namespace);
  // busybox httpd forks per connection and closes it: a keep-alive tool measures the proxy.
  const measuredImage = await buildNodeToolImage(docker, namespace);
  const counting = countingDocker();
  const stack = await startStack({
    namespace,
    docker: counting.docker,
    manager: { capacity: { memoryBudgetMb: count * HTTPD_RESERVATION_MB + MEASURED_RESERVATION_MB } },
  });
  const { manager } = stack;
  const names = Array.from({ length: count }, (_, i) => `${namespace}-s${i}`);
  const launch = async (
    name: string,
    from = image,
    memoryReservationMb = HTTPD_RESERVATION_MB,
  ): Promise<void> => {
    await manager.launch({ name, image: from, port: TOOL_PORT, memoryReservationMb });
    await manager.waitUntilReady(name, { signal: AbortSignal.timeout(LAUNCH_DEADLINE_MS) });
  };
  const target = names[0] as string;
  // Node needs more than the crowd's 8 MB: the Docker backend's default limit of 4x the
  // reservation (32 MB) is less than the upstream uses under load, and it died there.
  await launch(target, measuredImage, MEASURED_RESERVATION_MB);
  const upstream = manager.get(target)?.upstream;
  if (upstream === undefined) throw new Error(`${target} has no upstream address`);
  const directUrl = `http://${upstream.host}:${upstream.port}/`;

  const points: ScalePoint[] = [];
  const measurePoint = async (when: 'up' | 'down'): Promise<void> => {
    const live = manager.list().length;
    log(`-- wrk with ${live} live (${when})`);
    const before = ownCpuTime();
    const dde = await measure(
      generator,
      stack.url(target),
      config.connections,
      config.seconds,
      config.warmupSeconds,
    );
    const after = ownCpuTime();
    const cpuUs = after.userUs - before.userUs + after.systemUs - before.systemUs;
    const direct = await measure(
      generator,
      directUrl,
      config.connections,
      config.seconds,
      config.warmupSeconds,
    );
    // The CPU time covers the warm-up too: per request of both runs' share is close enough.
    points.push({
      live,
      when,
      dde: { ...dde, cpuUsPerRequest: cpuUs / (dde.requests * (1 + config.warmupSeconds / config.seconds)) },
      direct,
    });
  };

  await measurePoint('up');
  let launched = 1;
  let launchMs = 0;
  for (const mark of checkpoints(count).slice(1)) {
    log(`-- launching up to ${mark} live...`);
    const t0 = nowMs();
    await mapLimit(names.slice(launched, mark), CONCURRENCY, async (name) => {
      await launch(name);
      if (++launched % 50 === 0) log(`   ${launched} live`);
    });
    launchMs += nowMs() - t0;
    await measurePoint('up');
  }
  const heapAll = await heapAfterGc();
  const engine = await containersByState(docker, namespace);

  log(`-- one reconciliation over ${count}`);
  counting.reset();
  let t0 = nowMs();
  await manager.reconcile();
  const reconcileMs = nowMs() - t0;
  const reconcileCalls = counting.counts();

  log(`-- a fresh manager adopting ${count}`);
  const adopting = countingDocker();
  const adopter = new ContainerManager({
    backend: new DockerBackend({ namespace, docker: adopting.docker }),
    reconcileIntervalMs: 0,
  });
  const closeAdopter = onCleanup('closing the adopting manager', () => adopter.close());
  t0 = nowMs();
  await adopter.start();
  const adoptMs = nowMs() - t0;
  const adopted = adopter.list().length;
  const adoptCalls = adopting.counts();
  await allReady(adopter, count);
  const adoptReadyMs = nowMs() - t0;
  await closeAdopter();

  log(`-- removing ${count - 1} through the manager`);
  t0 = nowMs();
  await mapLimit(names.slice(1), CONCURRENCY, (name) => manager.remove(name));
  const removeMs = nowMs() - t0;
  // With one route, after the same run: only the routes differ from the figure at `count`.
  const heapOne = await heapAfterGc();
  await measurePoint('down');
  await manager.remove(target);
  const left = total(await containersByState(docker, namespace));
  await stack.close();
  return report({
    count,
    generator: generator.name,
    connections: config.connections,
    seconds: config.seconds,
    points,
    launchMs,
    heapPerContainer: count > 1 ? (heapAll - heapOne) / (count - 1) : Number.NaN,
    heapOne,
    heapAll,
    engine,
    reconcileMs,
    reconcileCalls,
    adoptMs,
    adopted,
    adoptCalls,
    adoptReadyMs,
    removeMs,
    left,
  });
};

interface ScaleFigures {
  readonly count: number;
  readonly generator: string;
  readonly connections: number;
  readonly seconds: number;
  readonly points: readonly ScalePoint[];
  /** Launching from 1 to `count` live (all checkpoints' launches), ms. */
  readonly launchMs: number;
  readonly heapPerContainer: number;
  readonly heapOne: number;
  readonly heapAll: number;
  /** The engine's containers of the namespace at `count`, by state. */
  readonly engine: Record<string, number>;
  readonly reconcileMs: number;
  readonly reconcileCalls: Record<string, number>;
  readonly adoptMs: number;
  readonly adopted: number;
  readonly adoptCalls: Record<string, number>;
  readonly adoptReadyMs: number;
  readonly removeMs: number;
  /** Containers left after removing them all. */
  readonly left: number;
}

const sum = (calls: Record<string, number>): number => Object.values(calls).reduce((a, b) => a + b, 0);
const callList = (calls: Record<string, number>): string =>
  Object.entries(calls)
    .sort((a, b) => b[1] - a[1])
    .map(([call, n]) => `${n} x ${call}`)
    .join(', ');

function report(f: ScaleFigures): SuiteResult {
  const ones = f.points.filter((p) => p.live === 1);
  const oneRps = ones.reduce((a, p) => a + p.dde.requestsPerSecond, 0) / Math.max(1, ones.length);
  const oneDirect = ones.reduce((a, p) => a + p.direct.requestsPerSecond, 0) / Math.max(1, ones.length);
  const full = f.points.find((p) => p.live === f.count && p.when === 'up');
  const rows: Cell[][] = f.points.map((p) => [
    `${p.live} live (${p.when === 'up' ? 'launching' : 'after removal'})`,
    Math.round(p.dde.requestsPerSecond),
    p.dde.p99Ms,
    Math.round(p.dde.cpuUsPerRequest),
    Math.round(p.direct.requestsPerSecond),
    p.direct.p99Ms,
    ratio(p.dde.requestsPerSecond, oneRps),
    ratio(p.dde.requestsPerSecond / p.direct.requestsPerSecond, oneRps / oneDirect),
  ]);
  const checks: SuiteCheck[] = [
    {
      name: `proxy throughput to one tool, ${f.count} live vs 1 live (mean of before and after)`,
      target: '>= 0.95x',
      measured: full ? ratio(full.dde.requestsPerSecond, oneRps) : '-',
      met: full ? full.dde.requestsPerSecond >= 0.95 * oneRps : undefined,
    },
    {
      name: `${f.count} containers live, then none left after removal`,
      target: `${f.count} running, 0 left`,
      measured: `${f.engine.running ?? 0} running, ${f.left} left`,
      met: (f.engine.running ?? 0) === f.count && f.left === 0,
    },
    {
      name: `a fresh manager adopts all ${f.count}`,
      target: `${f.count} routes`,
      measured: `${f.adopted} routes`,
      met: f.adopted === f.count,
    },
  ];
  const up = f.points.filter((p) => p.when === 'up');
  const chart: LineChart = {
    kind: 'line',
    title: 'Throughput to one tool vs live containers',
    xLabel: 'live containers',
    yLabel: 'req/s',
    higherIsBetter: true,
    series: [
      { label: 'dde (Koa)', points: up.map((p) => [p.live, p.dde.requestsPerSecond] as const) },
      { label: 'direct (bridge IP)', points: up.map((p) => [p.live, p.direct.requestsPerSecond] as const) },
    ],
  };
  const kib = (bytes: number) => Math.round((bytes / 1024) * 10) / 10;
  return {
    id: 'scale',
    title: `Scale: ${f.count} live containers`,
    description:
      `Up to ${f.count} live containers (${HTTPD_RESERVATION_MB} MB reservation each, a budget that fits them): the ` +
      'measured tool is the bench upstream (Node, keep-alive, 1 KiB answers), the others busybox httpd, ' +
      `launched through one ContainerManager on a real DockerBackend, ${CONCURRENCY} at a time. At each step, ` +
      `${f.generator} with ${f.connections} connections for ${f.seconds} s (after a warm-up) against the measured ` +
      "tool through the Koa proxy and directly at its bridge address (the machine's yardstick); the one-live figure " +
      'is measured before launching the others and again after removing them, and the target compares with their ' +
      "mean. Heap: this process's heap after a full GC with every route, minus with one once the others are removed. Engine calls: every Engine " +
      'API request the backend made, counted at its dockerode modem.',
    tables: [
      {
        title: 'Proxy throughput to one tool vs live containers',
        columns: [
          'Live containers',
          'dde req/s',
          'dde p99 ms',
          'dde CPU us/req',
          'direct req/s',
          'direct p99 ms',
          'dde vs 1 live',
          'dde/direct vs 1 live',
        ],
        rows,
        note: '"dde/direct vs 1 live" divides out what the machine\'s other load did to both.',
      },
      {
        title: `The manager with ${f.count} containers`,
        columns: ['Figure', 'value'],
        rows: [
          [`launching 1 -> ${f.count} (${CONCURRENCY} at a time), s`, ms(f.launchMs / 1000)],
          ['manager heap per container (after GC), KiB', kib(f.heapPerContainer)],
          [
            `heap after GC with ${f.count} routes / with 1 after removing the others, MiB`,
            `${kib(f.heapAll / 1024)} / ${kib(f.heapOne / 1024)}`,
          ],
          ['one reconcile(), ms', ms(f.reconcileMs)],
          ['one reconcile(): Engine API calls', sum(f.reconcileCalls)],
          ["fresh manager's start() (adopts all), ms", ms(f.adoptMs)],
          ["fresh manager's start(): Engine API calls", sum(f.adoptCalls)],
          ['fresh manager: start() to every adopted route ready (probed), ms', ms(f.adoptReadyMs)],
          [`removing ${f.count - 1} through the manager, s`, ms(f.removeMs / 1000)],
        ],
        note: `reconcile(): ${callList(f.reconcileCalls)}. start(): ${callList(f.adoptCalls)}.`,
      },
    ],
    charts: [chart],
    checks,
    data: f,
  };
}

/**
 * Suite `coldstart`: how long a click takes to become a working tool. Launch through dde's
 * manager, then GET through its Koa proxy until the first 200; against the same image started
 * with `docker run -d` and polled at its bridge address by the same loop. Two tools: the bench
 * upstream listening at once, and the same listening after a known delay. Also how long the
 * manager takes to notice that the tool answers (readiness detection): the tool logs when it
 * began to listen, the manager's `phase` event says when it saw it.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type Docker from 'dockerode';
import { baselineNamespace, dockerRemove, dockerRun, listenedAt } from './launch/docker-run.ts';
import { nowMs, pollUntil200 } from './launch/poll.ts';
import { type DdeStack, startStack } from './launch/stack.ts';
import { ms, ratio, type Summary, summarize } from './launch/stats.ts';
import { buildNodeToolImage, TOOL_PORT } from './launch/tools.ts';
import { type CountingDocker, countingDocker } from './scale/engine-calls.ts';
import type { BarChart, Cell, Suite, SuiteCheck, SuiteContext, SuiteResult } from './types.ts';

const DEADLINE_MS = 60_000;

/** One launch's timings, ms. */
export interface ColdStartSample {
  /** Launch call to the first 200 the client saw. */
  readonly total: number;
  /** Launch call to the container running (dde's `launch()` resolving; `docker run` returning). */
  readonly started: number;
  /** Launch call to the tool listening (from its own log). */
  readonly listening: number | undefined;
  /** The tool listening to the manager seeing it ready (dde) or the poll loop's first 200 (baseline). */
  readonly detection: number | undefined;
  /** Engine API calls dde's backend made from launch to first 200 (dde only). */
  readonly engineCalls?: Record<string, number>;
}

interface Variant {
  readonly id: string;
  readonly label: string;
  readonly env: Record<string, string>;
}

async function ddeLaunch(
  context: SuiteContext,
  stack: DdeStack,
  counting: CountingDocker,
  image: string,
  name: string,
  variant: Variant,
): Promise<ColdStartSample> {
  const { manager } = stack;
  let readyAt: number | undefined;
  const onPhase = (change: { name: string; phase: string }): void => {
    if (change.name === name && change.phase === 'ready') readyAt ??= nowMs();
  };
  manager.on('phase', onPhase);
  try {
    counting.reset();
    const t0 = nowMs();
    const info = await manager.launch({ name, image, port: TOOL_PORT, env: variant.env });
    const started = nowMs() - t0;
    const first = await pollUntil200(stack.url(name), AbortSignal.timeout(DEADLINE_MS));
    const engineCalls = counting.counts();
    const listen = await listenedAt(context.docker, info.id);
    return {
      engineCalls,
      total: first.at - t0,
      started,
      listening: listen === undefined ? undefined : listen - t0,
      detection: listen === undefined || readyAt === undefined ? undefined : readyAt - listen,
    };
  } finally {
    manager.off('phase', onPhase);
    await manager.remove(name);
  }
}

async function baselineLaunch(
  docker: Docker,
  baselineNs: string,
  network: string,
  image: string,
  name: string,
  variant: Variant,
): Promise<ColdStartSample> {
  const t0 = nowMs();
  const container = await dockerRun(docker, baselineNs, { name, image, network, env: variant.env });
  try {
    const started = nowMs() - t0;
    const first = await pollUntil200(
      `http://${container.ip}:${TOOL_PORT}/`,
      AbortSignal.timeout(DEADLINE_MS),
    );
    const listen = await listenedAt(docker, container.id);
    return {
      total: first.at - t0,
      started,
      listening: listen === undefined ? undefined : listen - t0,
      detection: listen === undefined ? undefined : first.at - listen,
    };
  } finally {
    await dockerRemove(docker, container.id);
  }
}

/** The Engine API calls of the dde launch with the median total, as `n x METHOD path`. */
function engineCallsNote(samples: Map<string, { dde: ColdStartSample[] }>): string {
  const all = [...samples.values()].flatMap((s) => s.dde).sort((a, b) => a.total - b.total);
  const calls = all[Math.floor(all.length / 2)]?.engineCalls ?? {};
  return Object.entries(calls)
    .map(([call, n]) => `${n} x ${call}`)
    .join(', ');
}

const defined = (values: readonly (number | undefined)[]): number[] =>
  values.filter((v): v is number => v !== undefined);

/** The suite. */
export const coldstart: Suite = async (context) => {
  const { docker, namespace, config, log } = context;
  const variants: Variant[] = [
    { id: 'instant', label: 'ready at once', env: {} },
    {
      id: 'delayed',
      label: `listens after ${config.listenDelayMs} ms`,
      env: { LISTEN_DELAY_MS: String(config.listenDelayMs) },
    },
  ];
  log(`building the tool image (the bench upstream)...`);
  const image = await buildNodeToolImage(docker, namespace);
  const counting = countingDocker();
  const stack = await startStack({ namespace, docker: counting.docker });
  const baselineNs = baselineNamespace(docker, namespace);
  const network = stack.backend.network;

  // How late this process's timers run: the floor under any detection figure on this machine.
  const loopDelay = monitorEventLoopDelay({ resolution: 5 });
  loopDelay.enable();
  const samples = new Map<string, { dde: ColdStartSample[]; baseline: ColdStartSample[] }>(
    variants.map((v) => [v.id, { dde: [], baseline: [] }]),
  );
  // One unmeasured launch of each creates dde's network and warms the engine's caches.
  log('warm-up launch (unmeasured)...');
  await ddeLaunch(context, stack, counting, image, `${namespace}-warm`, variants[0] as Variant);
  await baselineLaunch(docker, baselineNs, network, image, `${baselineNs}-warm`, variants[0] as Variant);

  for (let i = 0; i < config.launches; i++) {
    log(`-- launch ${i + 1} of ${config.launches}`);
    for (const variant of variants) {
      const bucket = samples.get(variant.id) as { dde: ColdStartSample[]; baseline: ColdStartSample[] };
      const runDde = async () =>
        bucket.dde.push(
          await ddeLaunch(context, stack, counting, image, `${namespace}-${variant.id}-${i}`, variant),
        );
      const runBaseline = async () =>
        bucket.baseline.push(
          await baselineLaunch(
            docker,
            baselineNs,
            network,
            image,
            `${baselineNs}-${variant.id}-${i}`,
            variant,
          ),
        );
      // Alternate who goes first, so that neither always runs right after a removal.
      if (i % 2 === 0) {
        await runDde();
        await runBaseline();
      } else {
        await runBaseline();
        await runDde();
      }
    }
  }
  loopDelay.disable();
  await stack.close();
  const lag = {
    p50: loopDelay.percentile(50) / 1e6,
    p99: loopDelay.percentile(99) / 1e6,
    max: loopDelay.max / 1e6,
  };
  return report(config.launches, config.listenDelayMs, variants, samples, lag);
};

function report(
  launches: number,
  delayMs: number,
  variants: readonly Variant[],
  samples: Map<string, { dde: ColdStartSample[]; baseline: ColdStartSample[] }>,
  lag: { p50: number; p99: number; max: number },
): SuiteResult {
  const rows: Cell[][] = [];
  const detectionRows: Cell[][] = [];
  const checks: SuiteCheck[] = [];
  const bars: { label: string; value: number; group: string }[] = [];
  const summaries: Record<string, unknown> = {};
  for (const variant of variants) {
    const { dde, baseline } = samples.get(variant.id) as {
      dde: ColdStartSample[];
      baseline: ColdStartSample[];
    };
    const total = {
      dde: summarize(dde.map((s) => s.total)),
      baseline: summarize(baseline.map((s) => s.total)),
    };
    const started = {
      dde: summarize(dde.map((s) => s.started)),
      baseline: summarize(baseline.map((s) => s.started)),
    };
    const detection = {
      dde: summarize(defined(dde.map((s) => s.detection))),
      baseline: summarize(defined(baseline.map((s) => s.detection))),
    };
    summaries[variant.id] = { total, started, detection };
    const row = (who: string, t: Summary, s: Summary, base?: Summary): Cell[] => [
      `${variant.label}: ${who}`,
      ms(t.median),
      ms(t.p95),
      ms(s.median),
      base ? ratio(t.median, base.median) : '1.00x',
      base ? ratio(t.p95, base.p95) : '1.00x',
    ];
    rows.push(row('docker run -d + poll', total.baseline, started.baseline));
    rows.push(row('dde (manager + Koa proxy)', total.dde, started.dde, total.baseline));
    detectionRows.push([
      `${variant.label}: dde manager`,
      ms(detection.dde.median),
      ms(detection.dde.p95),
      ms(detection.dde.max),
      detection.dde.n,
    ]);
    detectionRows.push([
      `${variant.label}: baseline poll loop`,
      ms(detection.baseline.median),
      ms(detection.baseline.p95),
      ms(detection.baseline.max),
      detection.baseline.n,
    ]);
    checks.push({
      name: `cold start (${variant.label}), dde vs docker run + poll, median`,
      target: '<= 1.10x',
      measured: ratio(total.dde.median, total.baseline.median),
      met:
        total.dde.n > 0 && total.baseline.n > 0 ? total.dde.median <= 1.1 * total.baseline.median : undefined,
    });
    checks.push({
      name: `readiness detection (${variant.label}), p95`,
      target: '<= 100 ms',
      measured: `${ms(detection.dde.p95)} ms`,
      met: detection.dde.n > 0 ? detection.dde.p95 <= 100 : undefined,
    });
    for (const [who, s] of [
      ['docker run + poll', total.baseline],
      ['dde', total.dde],
    ] as const) {
      bars.push({ label: `${who} median`, value: s.median, group: variant.label });
      bars.push({ label: `${who} p95`, value: s.p95, group: variant.label });
    }
  }
  const chart: BarChart = {
    kind: 'bar',
    title: 'Cold start: launch to first 200',
    unit: 'ms',
    higherIsBetter: false,
    bars,
  };
  const detectionChart: BarChart = {
    kind: 'bar',
    title: 'Readiness detection: tool listening to noticed (p95)',
    unit: 'ms',
    higherIsBetter: false,
    bars: variants.flatMap((v) => {
      const s = summaries[v.id] as { detection: { dde: Summary; baseline: Summary } };
      return [
        { label: 'dde manager', value: s.detection.dde.p95, group: v.label },
        { label: 'baseline poll loop', value: s.detection.baseline.p95, group: v.label },
      ];
    }),
  };
  return {
    id: 'coldstart',
    title: 'Cold start: launch to first 200',
    description:
      `${launches} launches per tool and contestant, interleaved, after one unmeasured warm-up. ` +
      'dde: `manager.launch()` on a real DockerBackend, then GET through the Koa proxy (new connection each attempt, ' +
      '2 ms pause after a 503 or a refusal) until 200. Baseline: the same image with `docker run -d` ' +
      "semantics (create, start, inspect for the address) on dde's network, polled at its bridge address by the " +
      `same loop. The tool is the bench upstream (Node) listening at once, or after ${delayMs} ms; it logs when it ` +
      "listens, so readiness detection is the time from that to the manager's `ready` phase (for the baseline: " +
      'to its first 200).',
    tables: [
      {
        title: 'Launch to first 200 (ms)',
        columns: [
          'Tool: contestant',
          'median',
          'p95',
          'running after (median)',
          'median vs baseline',
          'p95 vs baseline',
        ],
        rows,
        note:
          '"running after" is when `launch()` (dde) or create+start+inspect (baseline) returned. ' +
          `dde's Engine API calls per launch (median launch): ${engineCallsNote(samples)}.`,
      },
      {
        title: 'Readiness detection: tool listening to noticed (ms)',
        columns: ['Tool: who notices', 'median', 'p95', 'max', 'samples'],
        rows: detectionRows,
        note:
          `The bench process's event loop ran late by ${ms(lag.p50)} ms (median), ${ms(lag.p99)} ms (p99) and ` +
          `${ms(lag.max)} ms (max) during the run: a floor under both rows on this machine.`,
      },
    ],
    charts: [chart, detectionChart],
    checks,
    data: {
      launches,
      listenDelayMs: delayMs,
      eventLoopDelayMs: lag,
      summaries,
      samples: Object.fromEntries(samples),
    },
  };
}

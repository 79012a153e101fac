/**
 * Turns measurements into the printed table, the Markdown table and the targets verdict.
 * A benchmark reports; it never fails on timing.
 */
import type { LoadResult } from './load/types.ts';
import type { MachineInfo } from './machine.ts';
import type { Chart } from './suites/types.ts';
import { chartFile } from './suites/write.ts';

/** One target's figure, or why it has none. */
export interface Measurement {
  /** Target id (`direct`, `dde-koa`, `dde-express`, `nginx`, `chp`). */
  readonly id: string;
  /** Human-readable target name. */
  readonly label: string;
  /** The figure, when the target ran: each figure's median over the rounds. */
  readonly result?: LoadResult;
  /** Every round's figure, in the order they ran (one round unless `--rounds` says more). */
  readonly rounds?: readonly LoadResult[];
  /** Why it did not run (e.g. "not installed") or failed. */
  readonly skipped?: string;
}

/**
 * One measurement per target out of several rounds: each figure (throughput, p50, p99, CPU per
 * request) is the median of its rounds (the lower middle one for an even count), taken on its
 * own, so one disturbed round moves none of them. Taking every figure from the median round by
 * throughput instead put one round's p99 next to another target's from a different round, and
 * with the order rotating between rounds the tail column then compared neighbours, not targets.
 * Counts (requests, errors) are the sums over the rounds. A target that failed in any round
 * keeps the first failure.
 */
export function medianOfRounds(rounds: readonly Measurement[]): Measurement {
  const first = rounds[0];
  if (first === undefined) throw new Error('no rounds to combine');
  const failed = rounds.find((m) => m.result === undefined);
  if (failed !== undefined) return failed;
  const results = rounds.map((m) => m.result as LoadResult);
  if (results.length === 1) return { id: first.id, label: first.label, result: results[0], rounds: results };
  const cpu = results.flatMap((r) => (r.proxyCpuUsPerRequest === undefined ? [] : [r]));
  const cpuMedian = cpu.length === 0 ? undefined : medianBy(cpu, (r) => r.proxyCpuUsPerRequest as number);
  const result: LoadResult = {
    requestsPerSecond: median(results.map((r) => r.requestsPerSecond)),
    p50Ms: median(results.map((r) => r.p50Ms)),
    p99Ms: median(results.map((r) => r.p99Ms)),
    requests: results.reduce((sum, r) => sum + r.requests, 0),
    errors: results.reduce((sum, r) => sum + r.errors, 0),
    seconds: results.reduce((sum, r) => sum + r.seconds, 0),
    ...(cpuMedian === undefined
      ? {}
      : {
          proxyCpuUsPerRequest: cpuMedian.proxyCpuUsPerRequest,
          // The kernel's share of that same round's CPU time.
          ...(cpuMedian.proxySystemShare === undefined
            ? {}
            : { proxySystemShare: cpuMedian.proxySystemShare }),
        }),
  };
  return { id: first.id, label: first.label, result, rounds: results };
}

/** The lower middle of `values`. */
function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] as number;
}

/** The item whose `key` is the lower middle. */
function medianBy<T>(items: readonly T[], key: (item: T) => number): T {
  const sorted = [...items].sort((a, b) => key(a) - key(b));
  return sorted[Math.floor((sorted.length - 1) / 2)] as T;
}

/** How the runs were made: the same for every target. */
export interface Settings {
  /** Rounds per target; the table shows each figure's median over them. */
  readonly rounds: number;
  /** Concurrent HTTP connections. */
  readonly connections: number;
  /** Measured seconds per HTTP target. */
  readonly seconds: number;
  /** Unmeasured warm-up seconds before each measurement. */
  readonly warmupSeconds: number;
  /** Concurrent WebSocket connections. */
  readonly wsConnections: number;
  /** WebSocket message size, in bytes. */
  readonly wsMessageBytes: number;
  /** Response body size, in bytes. */
  readonly responseBytes: number;
}

/** A throughput target: `proxy` should reach at least `minRatio` times `reference`. */
export interface TargetCheck {
  /** The dde target id. */
  readonly proxy: string;
  /** The peer it is compared with. */
  readonly reference: string;
  /** Required throughput ratio. */
  readonly minRatio: number;
  /** Measured ratio, when both ran. */
  readonly ratio: number | undefined;
  /** Whether the target was met; undefined when it could not be measured. */
  readonly met: boolean | undefined;
}

/** Everything one run measured, as written to `results/latest.json`. */
export interface BenchResult {
  /** When the run finished (ISO 8601). */
  readonly date: string;
  /** Where it ran. */
  readonly machine: MachineInfo;
  /** The HTTP load generator used. */
  readonly loadGenerator: string;
  /** Run settings. */
  readonly settings: Settings;
  /** HTTP GET of a 1 KiB response: requests/s and latency. */
  readonly http: readonly Measurement[];
  /** WebSocket echo: round trips/s and latency. */
  readonly ws: readonly Measurement[];
  /** The throughput targets and whether they were met. */
  readonly checks: readonly TargetCheck[];
}

/**
 * dde's throughput targets: well ahead of configurable-http-proxy, within reach of nginx. Checked
 * for the core handler on `node:http` (mounted directly, as `createProxy` allows) and for each
 * adapter, whose framework adds its own per-request work.
 */
export const TARGETS: ReadonlyArray<Pick<TargetCheck, 'proxy' | 'reference' | 'minRatio'>> = [
  { proxy: 'dde-core', reference: 'chp', minRatio: 2.5 },
  { proxy: 'dde-core', reference: 'nginx', minRatio: 0.6 },
  { proxy: 'dde-koa', reference: 'chp', minRatio: 2.5 },
  { proxy: 'dde-koa', reference: 'nginx', minRatio: 0.6 },
  { proxy: 'dde-express', reference: 'chp', minRatio: 2.5 },
  { proxy: 'dde-express', reference: 'nginx', minRatio: 0.6 },
];

const rate = (m: Measurement | undefined): number | undefined => m?.result?.requestsPerSecond;

/** Checks every target against the HTTP measurements. */
export function checkTargets(http: readonly Measurement[]): TargetCheck[] {
  const byId = new Map(http.map((m) => [m.id, m]));
  return TARGETS.map((target) => {
    const proxy = rate(byId.get(target.proxy));
    const reference = rate(byId.get(target.reference));
    const ratio =
      proxy !== undefined && reference !== undefined && reference > 0 ? proxy / reference : undefined;
    return { ...target, ratio, met: ratio === undefined ? undefined : ratio >= target.minRatio };
  });
}

const integer = (n: number): string => Math.round(n).toLocaleString('en-US');
const ms = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : '-');
const times = (n: number | undefined): string => (n === undefined ? '-' : `${n.toFixed(2)}x`);

/** Table rows for one kind of measurement, with each target's ratio to `direct`. */
function rows(measurements: readonly Measurement[], unit: string): { header: string[]; body: string[][] } {
  const direct = rate(measurements.find((m) => m.id === 'direct'));
  const header = [
    'Target',
    unit,
    'rounds min-max',
    'p50 ms',
    'p99 ms',
    'errors',
    'vs direct',
    'proxy CPU us/req',
  ];
  const body = measurements.map((m) => {
    const r = m.result;
    if (r === undefined) return [m.label, m.skipped ?? 'not run', '', '', '', '', '', ''];
    const vsDirect = direct ? r.requestsPerSecond / direct : undefined;
    const all = (m.rounds ?? [r]).map((x) => x.requestsPerSecond);
    const range = `${integer(Math.min(...all))}-${integer(Math.max(...all))}`;
    const errors = (m.rounds ?? [r]).reduce((sum, x) => sum + x.errors, 0);
    const cpu =
      r.proxyCpuUsPerRequest === undefined
        ? '-'
        : `${Math.round(r.proxyCpuUsPerRequest)} (${Math.round((r.proxySystemShare ?? 0) * 100)}% sys)`;
    return [
      m.label,
      integer(r.requestsPerSecond),
      range,
      ms(r.p50Ms),
      ms(r.p99Ms),
      String(errors),
      times(vsDirect),
      cpu,
    ];
  });
  return { header, body };
}

function labelOf(result: BenchResult, id: string): string {
  return result.http.find((m) => m.id === id)?.label ?? id;
}

/** One line per target: ratio, requirement and verdict. */
function verdicts(result: BenchResult): string[] {
  return result.checks.map((check) => {
    const verdict = check.met === undefined ? 'not measured' : check.met ? 'MET' : 'MISSED';
    const names = `${labelOf(result, check.proxy)} vs ${labelOf(result, check.reference)}`;
    return `${names}: ${times(check.ratio)} (target >= ${check.minRatio}x) ${verdict}`;
  });
}

function machineLine(result: BenchResult): string {
  const m = result.machine;
  return (
    `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}, Docker ${m.docker}, ` +
    `load average ${m.loadAverage} at start`
  );
}

/** A warning when something else was using the CPU as the run started, else nothing. */
function noiseWarning(result: BenchResult): string[] {
  const load = result.machine.loadAverage;
  if (load < 1) return [];
  return [
    `Warning: load average ${load} at start: other processes competed for the ${result.machine.cores} cores, ` +
      'so the figures are noisy (see the rounds min-max column); rerun on an idle machine, with --rounds 3.',
  ];
}

function settingsLine(result: BenchResult): string {
  const s = result.settings;
  return (
    `${s.responseBytes} B responses, ${s.connections} connections, ${s.seconds} s per target after ${s.warmupSeconds} s warm-up, ` +
    `median of ${s.rounds} round${s.rounds === 1 ? '' : 's'} (targets interleaved); ` +
    `WebSocket: ${s.wsConnections} connections, ${s.wsMessageBytes} B messages, one in flight each`
  );
}

/** Pads columns so the table reads in a terminal. */
function textTable(header: string[], body: string[][]): string {
  const all = [header, ...body];
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  const line = (row: string[]) =>
    row
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

function markdownTable(header: string[], body: string[][]): string {
  const line = (row: string[]) => `| ${row.join(' | ')} |`;
  return [
    line(header),
    `|${header.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`,
    ...body.map(line),
  ].join('\n');
}

/** The report as printed in the terminal. */
export function renderText(result: BenchResult): string {
  const http = rows(result.http, 'req/s');
  const ws = rows(result.ws, 'msg/s');
  return [
    `Machine: ${machineLine(result)}`,
    `Load generator: ${result.loadGenerator}`,
    `Settings: ${settingsLine(result)}`,
    ...noiseWarning(result),
    '',
    'HTTP GET, 1 KiB keep-alive responses',
    textTable(http.header, http.body),
    '',
    'WebSocket echo round trips (ws client)',
    textTable(ws.header, ws.body),
    '',
    'Targets (throughput ratios)',
    ...verdicts(result).map((v) => `  ${v}`),
  ].join('\n');
}

/**
 * The proxy suite's charts: HTTP throughput and p99 per target, and WebSocket round trips.
 * Targets that did not run are left out.
 */
export function proxyCharts(result: BenchResult): Chart[] {
  const ran = (measurements: readonly Measurement[]) =>
    measurements.filter((m): m is Measurement & { result: LoadResult } => m.result !== undefined);
  const http = ran(result.http);
  const ws = ran(result.ws);
  return [
    {
      kind: 'bar',
      title: 'HTTP GET, 1 KiB keep-alive responses: throughput',
      unit: 'requests/s',
      higherIsBetter: true,
      bars: http.map((m) => ({ label: m.label, value: m.result.requestsPerSecond })),
    },
    {
      kind: 'bar',
      title: 'HTTP GET, 1 KiB keep-alive responses: p99 latency',
      unit: 'ms',
      higherIsBetter: false,
      bars: http.map((m) => ({ label: m.label, value: m.result.p99Ms })),
    },
    {
      kind: 'bar',
      title: 'WebSocket echo round trips',
      unit: 'messages/s',
      higherIsBetter: true,
      bars: ws.map((m) => ({ label: m.label, value: m.result.requestsPerSecond })),
    },
  ];
}

/** The report as Markdown, for `results/latest.md` and the README. */
export function renderMarkdown(result: BenchResult): string {
  const http = rows(result.http, 'req/s');
  const ws = rows(result.ws, 'msg/s');
  return [
    `<!-- written by \`npm run bench\` on ${result.date}; do not edit by hand -->`,
    `**Machine:** ${machineLine(result)}  `,
    `**Load generator:** ${result.loadGenerator}  `,
    `**Settings:** ${settingsLine(result)}`,
    ...noiseWarning(result).map((warning) => `\n> ${warning}`),
    '',
    ...proxyCharts(result).flatMap((chart, i) => [`![${chart.title}](${chartFile('proxy', i)})`, '']),
    '**HTTP GET, 1 KiB keep-alive responses**',
    '',
    markdownTable(http.header, http.body),
    '',
    '**WebSocket echo round trips**',
    '',
    markdownTable(ws.header, ws.body),
    '',
    '**Targets (throughput ratios)**',
    '',
    ...verdicts(result).map((v) => `- ${v}`),
    '',
  ].join('\n');
}

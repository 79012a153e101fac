import { describe, expect, it } from 'vitest';
import type { LoadResult } from './load/types.ts';
import {
  type BenchResult,
  checkTargets,
  type Measurement,
  medianOfRounds,
  proxyCharts,
  renderMarkdown,
  renderText,
} from './report.ts';

const load = (requestsPerSecond: number, errors = 0): LoadResult => ({
  requestsPerSecond,
  p50Ms: 1.5,
  p99Ms: 4.25,
  requests: requestsPerSecond * 8,
  errors,
  seconds: 8,
});
const measured = (id: string, rps: number): Measurement => ({ id, label: id, result: load(rps) });

describe('checkTargets', () => {
  it('compares the core handler and each adapter with configurable-http-proxy and nginx', () => {
    const checks = checkTargets([
      measured('direct', 30_000),
      measured('dde-core', 9_100),
      measured('dde-koa', 10_000),
      measured('dde-express', 7_000),
      measured('nginx', 15_000),
      measured('chp', 3_000),
    ]);
    expect(checks.map((c) => [c.proxy, c.reference, c.met])).toEqual([
      ['dde-core', 'chp', true],
      ['dde-core', 'nginx', true],
      ['dde-koa', 'chp', true],
      ['dde-koa', 'nginx', true],
      ['dde-express', 'chp', false],
      ['dde-express', 'nginx', false],
    ]);
    expect(checks[2]?.ratio).toBeCloseTo(10 / 3);
  });

  it('leaves a target unmeasured when the peer did not run', () => {
    const checks = checkTargets([
      measured('dde-koa', 10_000),
      { id: 'nginx', label: 'nginx', skipped: 'not installed' },
    ]);
    const nginx = checks.find((c) => c.proxy === 'dde-koa' && c.reference === 'nginx');
    expect(nginx).toMatchObject({ ratio: undefined, met: undefined });
  });
});

describe('medianOfRounds', () => {
  const round = (requestsPerSecond: number, p99Ms: number, cpu?: number): Measurement => ({
    id: 'x',
    label: 'x',
    result: {
      ...load(requestsPerSecond),
      p99Ms,
      ...(cpu === undefined ? {} : { proxyCpuUsPerRequest: cpu, proxySystemShare: cpu / 1000 }),
    },
  });

  it('takes each figure’s median on its own and keeps every round', () => {
    const combined = medianOfRounds([round(3000, 9, 80), round(1000, 30, 120), round(2000, 5, 100)]);
    // The slowest round's long tail is not what the table shows, nor the fastest round's short one.
    expect(combined.result).toMatchObject({
      requestsPerSecond: 2000,
      p99Ms: 9,
      proxyCpuUsPerRequest: 100,
      proxySystemShare: 0.1,
      requests: 48_000,
      seconds: 24,
    });
    expect(combined.rounds?.map((r) => r.requestsPerSecond)).toEqual([3000, 1000, 2000]);
  });

  it('takes the lower middle of an even count, and one round as it is', () => {
    expect(medianOfRounds([measured('x', 4), measured('x', 1)]).result?.requestsPerSecond).toBe(1);
    const only = round(5, 2);
    expect(medianOfRounds([only]).result).toBe(only.result);
  });

  it('reports a failure in any round', () => {
    const failed: Measurement = { id: 'x', label: 'x', skipped: 'failed: boom' };
    expect(medianOfRounds([measured('x', 4), failed])).toBe(failed);
  });
});

describe('rendering', () => {
  const result: BenchResult = {
    date: '2025-01-01T00:00:00.000Z',
    machine: {
      cpu: 'Test CPU',
      cores: 2,
      memoryGiB: 24,
      kernel: '6.1',
      node: 'v24.0.0',
      docker: '20.10.24',
      loadAverage: 0.1,
    },
    loadGenerator: 'wrk 4.1.0 (1 thread)',
    settings: {
      rounds: 1,
      connections: 32,
      seconds: 8,
      warmupSeconds: 2,
      wsConnections: 32,
      wsMessageBytes: 128,
      responseBytes: 1024,
    },
    http: [
      measured('direct', 30_000),
      {
        id: 'dde-koa',
        label: 'dde-koa',
        result: { ...load(12_345), proxyCpuUsPerRequest: 80.4, proxySystemShare: 0.6 },
      },
      { id: 'nginx', label: 'nginx', skipped: 'not installed' },
    ],
    ws: [measured('direct', 40_000)],
    checks: checkTargets([measured('dde-koa', 12_345), measured('chp', 3_000)]),
  };

  it('prints throughput, latency, ratio to direct, machine and load generator', () => {
    const text = renderText(result);
    expect(text).toContain('Test CPU, 2 cores');
    expect(text).toContain('Load generator: wrk 4.1.0 (1 thread)');
    expect(text).toMatch(/dde-koa\s+12,345\s+12,345-12,345\s+1\.50\s+4\.25\s+0\s+0\.41x\s+80 \(60% sys\)/);
    expect(text).toMatch(/nginx\s+not installed/);
    expect(text).toContain('dde-koa vs chp: 4.12x (target >= 2.5x) MET');
    expect(text).toContain('dde-koa vs nginx: - (target >= 0.6x) not measured');
    expect(text).not.toContain('Warning');
  });

  it('warns when the machine was busy', () => {
    const busy = { ...result, machine: { ...result.machine, loadAverage: 3.5 } };
    expect(renderText(busy)).toContain('Warning: load average 3.5 at start');
    expect(renderMarkdown(busy)).toContain('> Warning: load average 3.5 at start');
  });

  it('writes a Markdown table', () => {
    const markdown = renderMarkdown(result);
    expect(markdown).toContain(
      '| Target | req/s | rounds min-max | p50 ms | p99 ms | errors | vs direct | proxy CPU us/req |',
    );
    expect(markdown).toContain(
      '| dde-koa | 12,345 | 12,345-12,345 | 1.50 | 4.25 | 0 | 0.41x | 80 (60% sys) |',
    );
    expect(markdown).toContain('| direct | 30,000 | 30,000-30,000 | 1.50 | 4.25 | 0 | 1.00x | - |');
    expect(markdown).toContain('- dde-koa vs chp: 4.12x (target >= 2.5x) MET');
  });

  it('charts throughput, p99 and WebSocket round trips of the targets that ran, embedded in the Markdown', () => {
    const [throughput, p99, ws] = proxyCharts(result);
    expect(throughput?.kind === 'bar' && throughput.bars.map((bar) => [bar.label, bar.value])).toEqual([
      ['direct', 30_000],
      ['dde-koa', 12_345],
    ]);
    expect(p99?.kind === 'bar' && p99.higherIsBetter).toBe(false);
    expect(ws?.kind === 'bar' && ws.bars).toHaveLength(1);
    const markdown = renderMarkdown(result);
    expect(markdown).toContain('](proxy-1.svg)');
    expect(markdown).toContain('](proxy-3.svg)');
  });
});

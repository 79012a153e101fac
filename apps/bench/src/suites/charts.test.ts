import { describe, expect, it } from 'vitest';
import {
  escapeXml,
  formatTick,
  formatValue,
  niceStep,
  renderBarChart,
  renderLineChart,
  ticks,
} from './charts.ts';

/** The widths of the bars, in drawing order. */
const barWidths = (svg: string): number[] =>
  [...svg.matchAll(/<rect x="\d+" y="[\d.]+" width="([\d.]+)"/g)].map((m) => Number(m[1]));

describe('chart scales', () => {
  it('steps by 1, 2 or 5 times a power of ten', () => {
    expect(niceStep(10)).toBe(2);
    expect(niceStep(33_000)).toBe(10_000);
    expect(niceStep(0.9)).toBe(0.2);
    expect(niceStep(0)).toBe(1);
  });

  it('ticks from zero past the maximum', () => {
    expect(ticks(0, 17_435)).toEqual([0, 5000, 10000, 15000, 20000]);
    expect(ticks(3, 9.6)).toEqual([0, 2, 4, 6, 8, 10]);
  });

  it('prints three significant digits with thousands separated', () => {
    expect(formatValue(17_435.4)).toBe('17,435');
    expect(formatValue(9.634)).toBe('9.63');
    expect(formatValue(0.0123)).toBe('0.012');
    expect(formatValue(Number.NaN)).toBe('-');
  });

  it('prints axis ticks without spurious decimals', () => {
    expect(formatTick(0)).toBe('0');
    expect(formatTick(20_000)).toBe('20,000');
    expect(formatTick(0.2)).toBe('0.2');
  });

  it('escapes markup in labels', () => {
    expect(escapeXml('a<b> & "c"')).toBe('a&#60;b&#62; &#38; &#34;c&#34;');
  });
});

describe('renderBarChart', () => {
  const svg = renderBarChart({
    kind: 'bar',
    title: 'Throughput <HTTP>',
    unit: 'req/s',
    higherIsBetter: true,
    bars: [
      { label: 'direct', value: 20_000 },
      { label: 'dde (Koa)', value: 10_000 },
      { label: 'nginx', value: 5_000 },
    ],
  });

  it('draws bars in proportion to their values', () => {
    const [direct, dde, nginx] = barWidths(svg);
    expect(direct).toBeGreaterThan(0);
    expect(dde).toBeCloseTo((direct as number) / 2, 0);
    expect(nginx).toBeCloseTo((direct as number) / 4, 0);
  });

  it('is a standalone SVG with the title escaped and the reading direction stated', () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('Throughput &#60;HTTP&#62;');
    expect(svg).toContain('req/s, longer is better');
    expect(svg).toContain('>10,000</text>');
  });

  it('sets dde apart from its peers by colour', () => {
    const fills = [...svg.matchAll(/rx="2" fill="(#[0-9a-f]{6})"/g)].map((m) => m[1]);
    expect(new Set(fills).size).toBe(3);
    expect(fills[1]).toBe('#1d4ed8');
  });

  it('puts grouped bars under their group headings', () => {
    const grouped = renderBarChart({
      kind: 'bar',
      title: 'Cold start',
      unit: 'ms',
      higherIsBetter: false,
      bars: [
        { label: 'dde', value: 400, group: 'ready at once' },
        { label: 'docker run', value: 380, group: 'ready at once' },
        { label: 'dde', value: 900, group: 'listens after 500 ms' },
      ],
    });
    expect(grouped.match(/ready at once/g)).toHaveLength(1);
    expect(grouped).toContain('listens after 500 ms');
    expect(grouped).toContain('ms, shorter is better');
  });
});

describe('renderLineChart', () => {
  const svg = renderLineChart({
    kind: 'line',
    title: 'Throughput against live containers',
    xLabel: 'live containers',
    yLabel: 'requests/s',
    higherIsBetter: true,
    series: [
      {
        label: 'dde (Koa)',
        points: [
          [1, 6000],
          [100, 5900],
          [500, 5800],
        ],
      },
    ],
  });

  it('draws one polyline through every point, left to right', () => {
    const points = svg.match(/<polyline points="([^"]+)"/)?.[1]?.split(' ') ?? [];
    expect(points).toHaveLength(3);
    const xs = points.map((p) => Number(p.split(',')[0]));
    expect(xs[0]).toBeLessThan(xs[1] as number);
    expect(xs[1]).toBeLessThan(xs[2] as number);
    expect(svg.match(/<circle /g)).toHaveLength(3);
  });

  it('labels both axes and the series', () => {
    expect(svg).toContain('live containers');
    expect(svg).toContain('requests/s, higher is better');
    expect(svg).toContain('>dde (Koa)</text>');
    expect(svg).toContain('>500</text>');
  });
});

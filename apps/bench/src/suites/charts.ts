/**
 * Draws a suite's charts as standalone SVG files (no dependency, no script, no external font),
 * so GitHub shows them inline in the Markdown report. Bars compare contestants; lines show a
 * figure against a count. dde's own entries are drawn in a strong colour, peers in muted ones,
 * so the comparison reads at a glance.
 */
import type { BarChart, Chart, LineChart } from './types.ts';

const WIDTH = 760;
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';
const DDE_COLOURS = ['#1d4ed8', '#2563eb', '#3b82f6', '#60a5fa'];
const PEER_COLOURS = ['#6b7280', '#d97706', '#059669', '#9333ea', '#dc2626', '#0891b2'];

/** Escapes text for SVG content and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A figure as the charts print it: three significant digits, thousands separated. */
export function formatValue(value: number): string {
  if (!Number.isFinite(value)) return '-';
  const abs = Math.abs(value);
  if (abs >= 100) return Math.round(value).toLocaleString('en-US');
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toPrecision(2);
}

/** An axis tick: whole numbers with thousands separated, others as short as they are exact. */
export function formatTick(value: number): string {
  return Number.isInteger(value) ? value.toLocaleString('en-US') : String(Number(value.toPrecision(3)));
}

/** A round step (1, 2 or 5 times a power of ten) that cuts `span` into about `count` parts. */
export function niceStep(span: number, count = 5): number {
  if (!(span > 0) || !Number.isFinite(span)) return 1;
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  const nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10;
  return nice * power;
}

/** Tick values from 0 (or below the minimum) to at least `max`. */
export function ticks(min: number, max: number, count = 5): number[] {
  const low = Math.min(0, min);
  const step = niceStep(max - low, count);
  const first = Math.floor(low / step) * step;
  const values: number[] = [];
  for (let v = first; v < max + step * 0.999; v += step) values.push(Number(v.toPrecision(12)));
  return values.length > 1 ? values : [first, first + step];
}

const isDde = (label: string): boolean => /^dde\b/i.test(label);

/** One colour per distinct label: dde's entries blue, the peers' other hues, stable per label. */
function colourMap(labels: readonly string[]): Map<string, string> {
  const map = new Map<string, string>();
  let dde = 0;
  let peer = 0;
  for (const label of labels) {
    if (map.has(label)) continue;
    const colour = isDde(label)
      ? DDE_COLOURS[dde++ % DDE_COLOURS.length]
      : PEER_COLOURS[peer++ % PEER_COLOURS.length];
    map.set(label, colour as string);
  }
  return map;
}

function text(x: number, y: number, content: string, attrs = ''): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${escapeXml(content)}</text>`;
}

function frame(height: number, body: string[], title: string, subtitle: string): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ${FONT} font-size="12">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    text(16, 24, title, 'font-size="15" font-weight="600" fill="#111827"'),
    text(16, 42, subtitle, 'fill="#4b5563"'),
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

/** Horizontal bars, one row per entry, grouped under their group's label when there are groups. */
export function renderBarChart(chart: BarChart): string {
  const labelWidth = 250;
  const barLeft = 16 + labelWidth;
  const barSpace = WIDTH - barLeft - 110;
  const rowHeight = 22;
  const max = Math.max(0, ...chart.bars.map((bar) => bar.value).filter(Number.isFinite));
  const scale = max > 0 ? barSpace / max : 0;
  const colours = colourMap(chart.bars.map((bar) => bar.label));
  const body: string[] = [];
  let y = 60;
  let group: string | undefined;
  for (const bar of chart.bars) {
    if (bar.group !== undefined && bar.group !== group) {
      group = bar.group;
      y += 6;
      body.push(text(16, y + 12, group, 'font-weight="600" fill="#111827"'));
      y += rowHeight;
    }
    const width = Number.isFinite(bar.value) ? Math.max(bar.value * scale, bar.value > 0 ? 1 : 0) : 0;
    const indent = bar.group === undefined ? 16 : 28;
    body.push(
      text(indent, y + 15, bar.label, `fill="#1f2937"${isDde(bar.label) ? ' font-weight="600"' : ''}`),
      `<rect x="${barLeft}" y="${y + 3}" width="${width.toFixed(1)}" height="${rowHeight - 6}" rx="2" fill="${colours.get(bar.label)}"/>`,
      text(barLeft + width + 6, y + 15, formatValue(bar.value), 'fill="#374151"'),
    );
    y += rowHeight;
  }
  const better = chart.higherIsBetter ? 'longer is better' : 'shorter is better';
  return frame(y + 16, body, chart.title, `${chart.unit}, ${better}`);
}

/** Lines over a linear x axis with a y axis from zero, a grid, point markers and a legend. */
export function renderLineChart(chart: LineChart): string {
  const left = 72;
  const right = WIDTH - 24;
  const top = 72 + 18 * Math.ceil(chart.series.length / 3);
  const plotHeight = 260;
  const bottom = top + plotHeight;
  const points = chart.series
    .flatMap((s) => s.points)
    .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xs = points.map(([x]) => x);
  const ys = points.map(([, y]) => y);
  const xMin = xs.length > 0 ? Math.min(...xs) : 0;
  const xMax = xs.length > 0 ? Math.max(...xs) : 1;
  const yTicks = ticks(Math.min(0, ...ys), Math.max(0, ...ys) || 1);
  const yLow = yTicks[0] as number;
  const yHigh = yTicks[yTicks.length - 1] as number;
  const xSpan = xMax - xMin || 1;
  const px = (x: number) => left + ((x - xMin) / xSpan) * (right - left);
  const py = (y: number) => bottom - ((y - yLow) / (yHigh - yLow || 1)) * plotHeight;
  const body: string[] = [];
  for (const tick of yTicks) {
    body.push(
      `<line x1="${left}" x2="${right}" y1="${py(tick).toFixed(1)}" y2="${py(tick).toFixed(1)}" stroke="#e5e7eb"/>`,
      text(left - 8, py(tick) + 4, formatTick(tick), 'text-anchor="end" fill="#4b5563"'),
    );
  }
  const xTickValues = [...new Set(xs)].sort((a, b) => a - b);
  const xLabels =
    xTickValues.length <= 12 ? xTickValues : ticks(xMin, xMax, 8).filter((t) => t >= xMin && t <= xMax);
  for (const tick of xLabels) {
    body.push(text(px(tick), bottom + 18, formatTick(tick), 'text-anchor="middle" fill="#4b5563"'));
  }
  body.push(
    `<line x1="${left}" x2="${right}" y1="${bottom}" y2="${bottom}" stroke="#6b7280"/>`,
    text((left + right) / 2, bottom + 38, chart.xLabel, 'text-anchor="middle" fill="#111827"'),
    text(
      16,
      (top + bottom) / 2,
      chart.yLabel,
      `transform="rotate(-90 16 ${((top + bottom) / 2).toFixed(1)})" text-anchor="middle" fill="#111827"`,
    ),
  );
  const colours = colourMap(chart.series.map((s) => s.label));
  chart.series.forEach((series, i) => {
    const colour = colours.get(series.label) as string;
    const valid = series.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    const path = valid.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ');
    if (valid.length > 1)
      body.push(`<polyline points="${path}" fill="none" stroke="${colour}" stroke-width="2"/>`);
    for (const [x, y] of valid) {
      body.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${colour}"/>`);
    }
    const lx = 16 + (i % 3) * 240;
    const ly = 68 + 18 * Math.floor(i / 3);
    body.push(
      `<rect x="${lx}" y="${ly - 9}" width="14" height="4" fill="${colour}"/>`,
      text(lx + 20, ly - 3, series.label, 'fill="#1f2937"'),
    );
  });
  const better = chart.higherIsBetter ? 'higher is better' : 'lower is better';
  return frame(bottom + 52, body, chart.title, `${chart.yLabel}, ${better}`);
}

/** The SVG for any chart. */
export function renderChart(chart: Chart): string {
  return chart.kind === 'bar' ? renderBarChart(chart) : renderLineChart(chart);
}

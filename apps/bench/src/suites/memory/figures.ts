/** The memory suite's figures: per-connection cost from samples, medians over rounds, tables. */
import { percentile } from '../../load/percentile.ts';
import type { BarChart, Cell, SuiteCheck, SuiteTable } from '../types.ts';
import type { TreeMemory } from './rss.ts';

/** One peer's measurement of one kind of connection in one round. */
export interface MemorySample {
  readonly peer: string;
  readonly label: string;
  readonly kind: ConnectionKind;
  readonly round: number;
  /** Why there are no figures (not installed, failed). */
  readonly skipped?: string;
  /** The idle proxy, after a warm-up and (for dde) a full GC. */
  readonly before?: TreeMemory;
  /** With the connections open, settled and (for dde) collected. */
  readonly after?: TreeMemory;
  /** dde only: `heapUsed + external` before and after, in bytes. */
  readonly heapBefore?: number;
  readonly heapAfter?: number;
  /** Connections the proxy still held when `after` was taken. */
  readonly open?: number;
}

/** The kinds of connection held open. */
export type ConnectionKind = 'keep-alive' | 'websocket';

/** How each kind is named in tables and charts. */
export const KIND_LABELS: Record<ConnectionKind, string> = {
  'keep-alive': 'idle keep-alive HTTP connection',
  websocket: 'open WebSocket',
};

/** A peer's figures for one kind, medians over its rounds. */
export interface MemoryFigures {
  readonly peer: string;
  readonly label: string;
  readonly kind: ConnectionKind;
  readonly skipped?: string;
  readonly idleMiB?: number;
  readonly loadedMiB?: number;
  readonly rssKiBPerConnection?: number;
  readonly pssKiBPerConnection?: number;
  readonly heapKiBPerConnection?: number;
  /** The fewest connections still open at any round's measurement. */
  readonly leastOpen?: number;
  readonly rounds: number;
}

function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

/** One peer's figures for one kind from its rounds' samples (skipped when none succeeded). */
export function figuresOf(samples: readonly MemorySample[], connections: number): MemoryFigures {
  const first = samples[0];
  if (first === undefined) throw new Error('figuresOf needs at least one sample');
  const { peer, label, kind } = first;
  const measured = samples.filter((s) => s.before !== undefined && s.after !== undefined);
  if (measured.length === 0) return { peer, label, kind, skipped: first.skipped ?? 'no figures', rounds: 0 };
  const each = (f: (s: MemorySample) => number | undefined) =>
    median(measured.map(f).filter((v): v is number => v !== undefined));
  return {
    peer,
    label,
    kind,
    idleMiB: each((s) => (s.before?.rssKiB ?? 0) / 1024),
    loadedMiB: each((s) => (s.after?.rssKiB ?? 0) / 1024),
    rssKiBPerConnection: each((s) => ((s.after?.rssKiB ?? 0) - (s.before?.rssKiB ?? 0)) / connections),
    pssKiBPerConnection: each((s) => ((s.after?.pssKiB ?? 0) - (s.before?.pssKiB ?? 0)) / connections),
    heapKiBPerConnection: each((s) =>
      s.heapAfter === undefined || s.heapBefore === undefined
        ? undefined
        : (s.heapAfter - s.heapBefore) / 1024 / connections,
    ),
    leastOpen: Math.min(...measured.map((s) => s.open ?? 0)),
    rounds: measured.length,
  };
}

/** The table of one kind of connection. */
export function memoryTable(
  kind: ConnectionKind,
  figures: readonly MemoryFigures[],
  connections: number,
): SuiteTable {
  const n = connections.toLocaleString('en-US');
  const cells = (f: MemoryFigures): Cell[] =>
    f.skipped !== undefined
      ? [f.label, null, null, null, null, null, f.skipped]
      : [
          f.label,
          f.idleMiB ?? null,
          f.loadedMiB ?? null,
          f.rssKiBPerConnection ?? null,
          f.pssKiBPerConnection ?? null,
          f.heapKiBPerConnection ?? null,
          `${f.leastOpen}/${connections}`,
        ];
  return {
    title: `${n} ${KIND_LABELS[kind]}s`,
    columns: [
      'Proxy',
      'idle RSS MiB',
      `RSS with ${n} MiB`,
      'RSS KiB/conn',
      'PSS KiB/conn',
      'JS heap KiB/conn',
      'open when measured',
    ],
    rows: figures.filter((f) => f.kind === kind).map(cells),
    note:
      "RSS and PSS summed over the proxy's processes (nginx: master and workers), from /proc; per connection = " +
      `(with ${n} - idle) / ${n}. JS heap = V8 heapUsed + external after two full GCs (dde only).`,
  };
}

/** Bars of RSS per connection, grouped by kind. */
export function memoryChart(figures: readonly MemoryFigures[]): BarChart {
  return {
    kind: 'bar',
    title: 'Proxy memory per connection (RSS)',
    unit: 'KiB per connection',
    higherIsBetter: false,
    bars: figures.flatMap((f) =>
      f.rssKiBPerConnection === undefined
        ? []
        : [{ label: f.label, value: f.rssKiBPerConnection, group: KIND_LABELS[f.kind] }],
    ),
  };
}

/** Every measured peer held all its connections until measured: otherwise its figure undercounts. */
export function memoryChecks(figures: readonly MemoryFigures[], connections: number): SuiteCheck[] {
  return figures.map((f) => ({
    name: `${f.label}: ${KIND_LABELS[f.kind]}s open when measured`,
    target: `${connections}/${connections}`,
    measured: f.leastOpen === undefined ? (f.skipped ?? '-') : `${f.leastOpen}/${connections}`,
    met: f.leastOpen === undefined ? undefined : f.leastOpen === connections,
  }));
}

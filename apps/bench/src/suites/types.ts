/**
 * The contract every benchmark suite beyond the proxy hot path implements (`--suite <id>`).
 * A suite measures dde and a baseline in the same run and returns plain data: tables for the
 * Markdown report, charts the report renders as SVG, and target checks. A suite never fails
 * on timing; it reports.
 */
import type Docker from 'dockerode';
import type { BenchConfig } from '../config.ts';
import type { MachineInfo } from '../machine.ts';

/** Every suite `--suite` accepts (`proxy` is the original hot-path run). */
export const SUITE_IDS = ['proxy', 'ws', 'bodies', 'coldstart', 'burst', 'scale', 'memory'] as const;

/** A suite's id. */
export type SuiteId = (typeof SUITE_IDS)[number];

/** A table cell: numbers are formatted by the report, `null` prints as `-`. */
export type Cell = string | number | null;

/** One table of a suite's report. */
export interface SuiteTable {
  /** Shown above the table. */
  readonly title: string;
  /** Column headers; the first column holds the row labels. */
  readonly columns: readonly string[];
  /** One array per row, as long as `columns`. */
  readonly rows: readonly (readonly Cell[])[];
  /** Shown under the table: how to read it, what was held constant. */
  readonly note?: string;
}

/** Bars side by side: one value per contestant (and optionally per group, e.g. per size). */
export interface BarChart {
  readonly kind: 'bar';
  readonly title: string;
  /** Unit of the values, e.g. `req/s`, `ms`, `MB/s`, `KiB per connection`. */
  readonly unit: string;
  /** Whether a longer bar is better (throughput) or worse (latency, memory): shown in the legend. */
  readonly higherIsBetter: boolean;
  /** The bars; bars sharing a `group` are drawn together under that group's label. */
  readonly bars: readonly { readonly label: string; readonly value: number; readonly group?: string }[];
}

/** Lines over a numeric x axis, e.g. latency against the number of live containers. */
export interface LineChart {
  readonly kind: 'line';
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly higherIsBetter: boolean;
  readonly series: readonly {
    readonly label: string;
    readonly points: readonly (readonly [x: number, y: number])[];
  }[];
}

/** A chart the report draws as an SVG file next to the Markdown. */
export type Chart = BarChart | LineChart;

/** One target from the issue or the bench README, and whether this run met it. */
export interface SuiteCheck {
  /** What is compared, e.g. `cold start, dde vs docker run + poll (median)`. */
  readonly name: string;
  /** The requirement, e.g. `<= 1.10x`. */
  readonly target: string;
  /** The measured figure, e.g. `1.04x`. */
  readonly measured: string;
  /** Undefined when it could not be measured (a peer missing, a run failed). */
  readonly met: boolean | undefined;
}

/** What a suite returns; the runner adds the date and machine and writes `results/<id>.{json,md}` and charts. */
export interface SuiteResult {
  readonly id: SuiteId;
  /** Heading of the suite's section. */
  readonly title: string;
  /** One paragraph: what was measured, against what baseline, and the settings. */
  readonly description: string;
  readonly tables: readonly SuiteTable[];
  readonly charts: readonly Chart[];
  readonly checks: readonly SuiteCheck[];
  /** Raw figures (every sample or round) for the JSON file; any JSON-serialisable shape. */
  readonly data: unknown;
}

/** What the runner hands a suite. Cleanup goes through `onCleanup` from `../cleanup.ts`. */
export interface SuiteContext {
  readonly docker: Docker;
  /** A fresh namespace for this run's containers (`bench-<hex>`); the runner removes what is left in it. */
  readonly namespace: string;
  readonly machine: MachineInfo;
  readonly config: BenchConfig;
  /** Progress on stderr. */
  log(message: string): void;
}

/** A suite: runs its measurements and returns them. */
export type Suite = (context: SuiteContext) => Promise<SuiteResult>;

/** Summaries of launch timings: the figures the coldstart, burst and scale tables show. */
import { percentile } from '../../load/percentile.ts';

/** Median, p95 and extremes of a set of samples (ms). */
export interface Summary {
  readonly n: number;
  readonly median: number;
  readonly p95: number;
  readonly min: number;
  readonly max: number;
}

/** Summarises `samples` (any order); NaN figures when empty. */
export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    n: sorted.length,
    median: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    min: sorted[0] ?? Number.NaN,
    max: sorted.at(-1) ?? Number.NaN,
  };
}

/** `a / b` as a ratio cell like `1.04x`, or `-` when either is missing. */
export function ratio(a: number, b: number): string {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : '-';
}

/** A number of ms rounded for a table (one decimal below 100). */
export function ms(value: number): number | null {
  if (!Number.isFinite(value)) return null;
  return value >= 100 ? Math.round(value) : Math.round(value * 10) / 10;
}

/** Runs `task` over `items` with at most `limit` under way at once; results in input order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) results[i] = await task(items[i] as T, i);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

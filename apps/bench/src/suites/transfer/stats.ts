/** Pure arithmetic of the transfer suites (`ws`, `bodies`): medians, rates, CPU per MB, ratio checks. */
import type { CpuTime } from '../../cpu.ts';
import type { SuiteCheck } from '../types.ts';

/** Bytes in the MB of every MB/s figure (10^6, as network rates are quoted). */
export const MB = 1_000_000;

/** The median (the mean of the two middle values for an even count); undefined for none. */
export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** MB/s of `bytes` moved in `seconds`. */
export function mbPerSecond(bytes: number, seconds: number): number {
  return bytes / MB / seconds;
}

/** CPU milliseconds (user + system) spent between two samples, per `units`; undefined without both. */
export function cpuMsPer(
  before: CpuTime | undefined,
  after: CpuTime | undefined,
  units: number,
): number | undefined {
  if (before === undefined || after === undefined || units <= 0) return undefined;
  return (after.userUs - before.userUs + after.systemUs - before.systemUs) / 1000 / units;
}

/** How a measured figure is compared with the peer's. */
export interface RatioTarget {
  /** What is compared, e.g. `ws echo round trips/s, dde (core) vs nginx`. */
  readonly name: string;
  /** Whether more is better (throughput) or less (time, latency). */
  readonly higherIsBetter: boolean;
  /** The bound on `measured / peer`: a minimum when more is better, else a maximum. */
  readonly bound: number;
}

/** A check of `measured / peer` against `target.bound`; not measured when either is missing. */
export function ratioCheck(
  target: RatioTarget,
  measured: number | undefined,
  peer: number | undefined,
): SuiteCheck {
  const sign = target.higherIsBetter ? '>=' : '<=';
  const wanted = `${sign} ${target.bound.toFixed(2)}x`;
  if (measured === undefined || peer === undefined || peer === 0) {
    return { name: target.name, target: wanted, measured: 'not measured', met: undefined };
  }
  const ratio = measured / peer;
  const met = target.higherIsBetter ? ratio >= target.bound : ratio <= target.bound;
  return { name: target.name, target: wanted, measured: `${ratio.toFixed(2)}x`, met };
}

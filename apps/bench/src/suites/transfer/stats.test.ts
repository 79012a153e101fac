import { describe, expect, it } from 'vitest';
import { cpuMsPer, mbPerSecond, median, ratioCheck } from './stats.ts';

describe('transfer stats', () => {
  it('takes the median of odd and even counts, whatever the order', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeUndefined();
  });

  it('quotes rates in 10^6 bytes per second', () => {
    expect(mbPerSecond(100_000_000, 0.5)).toBe(200);
  });

  it('spreads user and system CPU over the units moved', () => {
    const before = { userUs: 1000, systemUs: 500 };
    const after = { userUs: 41_000, systemUs: 60_500 };
    expect(cpuMsPer(before, after, 100)).toBe(1);
    expect(cpuMsPer(undefined, after, 100)).toBeUndefined();
    expect(cpuMsPer(before, after, 0)).toBeUndefined();
  });

  it('checks a ratio as a minimum for throughput and a maximum for time', () => {
    const faster = { name: 'rate', higherIsBetter: true, bound: 0.8 };
    expect(ratioCheck(faster, 90, 100)).toEqual({
      name: 'rate',
      target: '>= 0.80x',
      measured: '0.90x',
      met: true,
    });
    expect(ratioCheck(faster, 70, 100).met).toBe(false);
    const quicker = { name: 'time', higherIsBetter: false, bound: 1.25 };
    expect(ratioCheck(quicker, 1.2, 1).met).toBe(true);
    expect(ratioCheck(quicker, 1.3, 1)).toMatchObject({ measured: '1.30x', met: false });
    expect(ratioCheck(quicker, undefined, 1)).toMatchObject({ measured: 'not measured', met: undefined });
  });
});

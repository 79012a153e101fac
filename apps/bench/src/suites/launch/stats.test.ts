import { describe, expect, it } from 'vitest';
import { mapLimit, ms, ratio, summarize } from './stats.ts';

describe('summarize', () => {
  it('gives nearest-rank median and p95 of unsorted samples', () => {
    const samples = Array.from({ length: 20 }, (_, i) => 20 - i); // 20..1
    expect(summarize(samples)).toEqual({ n: 20, median: 10, p95: 19, min: 1, max: 20 });
  });

  it('is NaN when there is nothing to summarise', () => {
    const empty = summarize([]);
    expect(empty.n).toBe(0);
    expect(empty.median).toBeNaN();
    expect(empty.max).toBeNaN();
  });
});

describe('ratio and ms', () => {
  it('formats a ratio, or a dash when a side is missing', () => {
    expect(ratio(110, 100)).toBe('1.10x');
    expect(ratio(Number.NaN, 100)).toBe('-');
    expect(ratio(1, 0)).toBe('-');
  });

  it('rounds ms for tables', () => {
    expect(ms(12.345)).toBe(12.3);
    expect(ms(123.6)).toBe(124);
    expect(ms(Number.NaN)).toBeNull();
  });
});

describe('mapLimit', () => {
  it('keeps input order and never runs more than the limit at once', async () => {
    let running = 0;
    let most = 0;
    const out = await mapLimit([5, 1, 4, 2, 3], 2, async (n) => {
      running++;
      most = Math.max(most, running);
      await new Promise((resolve) => setTimeout(resolve, n));
      running--;
      return n * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30]);
    expect(most).toBe(2);
  });
});

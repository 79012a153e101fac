import { describe, expect, it } from 'vitest';
import { roundOrder } from './rounds.ts';

describe('roundOrder', () => {
  it('keeps the listed order in the first round', () => {
    expect(roundOrder(4, 1)).toEqual([0, 1, 2, 3]);
  });

  it('starts each later round one target later, wrapping around', () => {
    expect(roundOrder(4, 2)).toEqual([1, 2, 3, 0]);
    expect(roundOrder(4, 4)).toEqual([3, 0, 1, 2]);
    expect(roundOrder(4, 5)).toEqual([0, 1, 2, 3]);
  });

  it('puts every target in every position once over as many rounds as targets', () => {
    const count = 7;
    for (let target = 0; target < count; target++) {
      const positions = Array.from({ length: count }, (_, r) => roundOrder(count, r + 1).indexOf(target));
      expect(new Set(positions).size).toBe(count);
    }
  });

  it('has nothing to order without targets', () => {
    expect(roundOrder(0, 3)).toEqual([]);
  });
});

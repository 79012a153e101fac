import { describe, expect, it } from 'vitest';
import type { CapacityCandidate } from './capacity.ts';
import { evictionOrder, planCapacity } from './capacity.ts';

const container = (name: string, memoryReservationMb: number, lastActivityMs: number, pinned = false) =>
  ({ name, memoryReservationMb, lastActivityMs, pinned }) satisfies CapacityCandidate;

describe('planCapacity', () => {
  it('starts a container that fits', () => {
    const decision = planCapacity({
      budgetMb: 35,
      requestMb: 15,
      running: [container('a', 15, 1)],
      overBudget: 'refuse',
    });
    expect(decision).toEqual({ outcome: 'fits', evict: [], usedMb: 15, afterMb: 30 });
  });

  it('evicts the least recently used container first (the ancestor scenario: 35 MB, three of 15 MB)', () => {
    const decision = planCapacity({
      budgetMb: 35,
      requestMb: 15,
      running: [container('first', 15, 100), container('second', 15, 50)],
      overBudget: 'refuse',
    });
    expect(decision).toEqual({ outcome: 'evict', evict: ['second'], usedMb: 30, afterMb: 30 });
  });

  it('evicts several, oldest activity first, and only as many as needed', () => {
    const decision = planCapacity({
      budgetMb: 100,
      requestMb: 50,
      running: [container('a', 30, 3), container('b', 30, 1), container('c', 30, 2)],
      overBudget: 'refuse',
    });
    expect(decision.evict).toEqual(['b', 'c']);
    expect(decision.afterMb).toBe(80);
  });

  it('never evicts pinned containers', () => {
    const decision = planCapacity({
      budgetMb: 40,
      requestMb: 20,
      running: [container('busy', 20, 1, true), container('idle', 20, 5)],
      overBudget: 'refuse',
    });
    expect(decision.evict).toEqual(['idle']);
  });

  it('refuses without evicting anything when eviction cannot make room', () => {
    const decision = planCapacity({
      budgetMb: 40,
      requestMb: 30,
      running: [container('busy', 30, 1, true), container('idle', 5, 5)],
      overBudget: 'refuse',
    });
    expect(decision).toEqual({ outcome: 'refuse', evict: [], usedMb: 35, afterMb: 35 });
    expect(planCapacity({ budgetMb: 10, requestMb: 11, running: [], overBudget: 'refuse' }).outcome).toBe(
      'refuse',
    );
  });

  it('starts over budget, evicting nothing, when the policy says so', () => {
    const decision = planCapacity({
      budgetMb: 10,
      requestMb: 20,
      running: [container('a', 5, 1)],
      overBudget: 'start-anyway',
    });
    expect(decision).toEqual({ outcome: 'over-budget', evict: [], usedMb: 5, afterMb: 25 });
  });
});

describe('evictionOrder', () => {
  it('lists evictable containers least recently used first, ties by name', () => {
    expect(
      evictionOrder([
        container('b', 1, 2),
        container('a', 1, 2),
        container('p', 1, 0, true),
        container('z', 0, 0),
        container('c', 1, 1),
      ]),
    ).toEqual(['c', 'a', 'b']);
  });
});

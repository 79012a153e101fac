import { describe, expect, it } from 'vitest';
import { figuresOf, type MemorySample, memoryChart, memoryChecks } from './figures.ts';

const sample = (round: number, idleKiB: number, loadedKiB: number, open = 10): MemorySample => ({
  peer: 'p',
  label: 'Peer',
  kind: 'websocket',
  round,
  before: { rssKiB: idleKiB, pssKiB: idleKiB - 100, processes: 2 },
  after: { rssKiB: loadedKiB, pssKiB: loadedKiB - 50, processes: 2 },
  heapBefore: 1024 * 100,
  heapAfter: 1024 * 150,
  open,
});

describe('figuresOf', () => {
  it('takes the median round of each per-connection figure and the fewest connections left open', () => {
    const f = figuresOf([sample(1, 1000, 1200), sample(2, 1000, 1100, 9), sample(3, 1024, 1524)], 10);
    expect(f.rssKiBPerConnection).toBe(20);
    expect(f.pssKiBPerConnection).toBe(25);
    expect(f.heapKiBPerConnection).toBe(5);
    expect(f.idleMiB).toBe(1000 / 1024);
    expect(f.leastOpen).toBe(9);
    expect(f.rounds).toBe(3);
  });

  it('reports a peer with no measured round as skipped, with the first reason', () => {
    const skipped: MemorySample = {
      peer: 'n',
      label: 'nginx',
      kind: 'keep-alive',
      round: 1,
      skipped: 'not installed',
    };
    const f = figuresOf([skipped], 10);
    expect(f).toMatchObject({ skipped: 'not installed', rounds: 0 });
    expect(memoryChart([f]).bars).toEqual([]);
    expect(memoryChecks([f], 10)[0]).toMatchObject({ measured: 'not installed', met: undefined });
  });

  it('fails the check of a peer that closed connections before the reading', () => {
    const f = figuresOf([sample(1, 1000, 1200, 7)], 10);
    expect(memoryChecks([f], 10)[0]).toMatchObject({ measured: '7/10', met: false });
    expect(memoryChart([f]).bars).toEqual([{ label: 'Peer', value: 20, group: 'open WebSocket' }]);
  });
});

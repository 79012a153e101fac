import { describe, expect, it } from 'vitest';
import { ownCpuTime, parseProcStat, processTreeCpuTime } from './cpu.ts';

describe('parseProcStat', () => {
  it('reads ppid, utime and stime, even with spaces and parentheses in the name', () => {
    const line = '4242 (nginx: worker (x)) S 4241 4241 4241 0 -1 4194624 100 0 0 0 1234 567 0 0 20 0 1 0';
    expect(parseProcStat(line)).toEqual([4241, 1234, 567]);
  });
});

describe('processTreeCpuTime', () => {
  it.skipIf(process.platform !== 'linux')('sees CPU this process burns', async () => {
    const before = await processTreeCpuTime(process.pid);
    const started = ownCpuTime();
    // Burn 200 ms of CPU time (not wall time: a busy machine must not make this flaky).
    while (ownCpuTime().userUs + ownCpuTime().systemUs - started.userUs - started.systemUs < 200_000);
    const after = await processTreeCpuTime(process.pid);
    const burnt =
      (after?.userUs ?? 0) + (after?.systemUs ?? 0) - (before?.userUs ?? 0) - (before?.systemUs ?? 0);
    // /proc counts in 10 ms ticks, sampled: allow for a few.
    expect(burnt).toBeGreaterThanOrEqual(150_000);
    expect(burnt).toBeLessThan(5_000_000);
  });
});

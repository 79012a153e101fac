import { describe, expect, it } from 'vitest';
import { kibField, treeMemory } from './rss.ts';

describe('kibField', () => {
  it('reads a kB line of /proc/<pid>/status or smaps_rollup', () => {
    const status = 'Name:\tnginx\nVmPeak:\t   20000 kB\nVmRSS:\t    4321 kB\nRssAnon:\t 100 kB\n';
    expect(kibField(status, 'VmRSS')).toBe(4321);
    expect(kibField('Rss:  1744 kB\nPss:   199 kB\nPss_Dirty:  108 kB\n', 'Pss')).toBe(199);
    expect(kibField(status, 'Pss')).toBeUndefined();
  });
});

describe('treeMemory', () => {
  it.skipIf(process.platform !== 'linux')('sees this process grow when it touches memory', async () => {
    const before = await treeMemory(process.pid);
    const block = Buffer.alloc(64 * 1024 * 1024, 1);
    const after = await treeMemory(process.pid);
    expect(block.length).toBeGreaterThan(0);
    expect(after.rssKiB - before.rssKiB).toBeGreaterThan(32 * 1024);
    expect(after.pssKiB).toBeGreaterThan(0);
    expect(after.processes).toBeGreaterThanOrEqual(1);
  });
});

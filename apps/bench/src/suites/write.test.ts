import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { MachineInfo } from '../machine.ts';
import type { SuiteResult } from './types.ts';
import { writeSuiteResult } from './write.ts';

const machine: MachineInfo = {
  cpu: 'Test CPU',
  cores: 2,
  memoryGiB: 24,
  kernel: '6.0',
  node: 'v24.0.0',
  docker: '20.10',
  loadAverage: 0.1,
};

const result: SuiteResult = {
  id: 'coldstart',
  title: 'Cold start',
  description: 'Launch to first 200.',
  tables: [{ title: 'Launch to first 200', columns: ['Contestant', 'median ms'], rows: [['dde', 412.345]] }],
  charts: [
    { kind: 'bar', title: 'Median', unit: 'ms', higherIsBetter: false, bars: [{ label: 'dde', value: 412 }] },
  ],
  checks: [{ name: 'dde vs docker run', target: '<= 1.10x', measured: '1.04x', met: true }],
  data: { samples: [412] },
};

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function resultsDir(): Promise<URL> {
  const dir = await mkdtemp(join(tmpdir(), 'dde-bench-results-'));
  dirs.push(dir);
  return pathToFileURL(`${dir}/`);
}

describe('writeSuiteResult', () => {
  it('writes the JSON, the Markdown with its charts embedded, the SVGs and the report', async () => {
    const dir = await resultsDir();
    await writeFile(new URL('coldstart-7.svg', dir), 'stale');
    await writeFile(new URL('latest.md', dir), 'proxy table\n');
    await writeSuiteResult(dir, result, machine);

    expect((await readdir(dir)).sort()).toEqual([
      'README.md',
      'coldstart-1.svg',
      'coldstart.json',
      'coldstart.md',
      'latest.md',
    ]);
    const json = JSON.parse(await readFile(new URL('coldstart.json', dir), 'utf8'));
    expect(json).toMatchObject({ id: 'coldstart', machine, data: { samples: [412] } });
    const markdown = await readFile(new URL('coldstart.md', dir), 'utf8');
    expect(markdown).toContain('![Median](coldstart-1.svg)');
    expect(markdown).toContain('| dde | 412 |');
    expect(markdown).toContain('- dde vs docker run: 1.04x (target <= 1.10x) MET');
    const report = await readFile(new URL('README.md', dir), 'utf8');
    expect(report.indexOf('proxy table')).toBeLessThan(report.indexOf('### Cold start'));
    expect(report).toContain('- [coldstart](coldstart.md)');
  });
});

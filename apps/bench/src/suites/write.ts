/**
 * Writes a suite's result as `results/<id>.json`, `results/<id>.md` and one SVG per chart
 * (`results/<id>-<n>.svg`, embedded in the Markdown), then rebuilds `results/README.md`, the
 * report of every suite's latest run.
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { MachineInfo } from '../machine.ts';
import { renderChart } from './charts.ts';
import { type Cell, SUITE_IDS, type SuiteResult, type SuiteTable } from './types.ts';

/** A suite's result with when and where it ran, as written to `results/<id>.json`. */
export interface SuiteRecord extends SuiteResult {
  readonly date: string;
  readonly machine: MachineInfo;
}

function cell(value: Cell): string {
  if (value === null) return '-';
  if (typeof value === 'string') return value;
  if (Number.isInteger(value)) return value.toLocaleString('en-US');
  return Math.abs(value) >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(2);
}

function markdownTable(table: SuiteTable): string[] {
  const line = (row: readonly string[]) => `| ${row.join(' | ')} |`;
  return [
    `**${table.title}**`,
    '',
    line(table.columns),
    `|${table.columns.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`,
    ...table.rows.map((row) => line(row.map(cell))),
    ...(table.note ? ['', table.note] : []),
    '',
  ];
}

function machineLine(m: MachineInfo): string {
  return (
    `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}, Docker ${m.docker}, ` +
    `load average ${m.loadAverage} at start`
  );
}

/** The file name of a suite's `index`th chart (0-based). */
export function chartFile(id: string, index: number): string {
  return `${id}-${index + 1}.svg`;
}

/** The suite's Markdown section. */
export function renderSuiteMarkdown(record: SuiteRecord): string {
  const verdict = (met: boolean | undefined) => (met === undefined ? 'not measured' : met ? 'MET' : 'MISSED');
  return [
    `<!-- written by \`npm run bench -- --suite ${record.id}\` on ${record.date}; do not edit by hand -->`,
    `### ${record.title}`,
    '',
    `**Machine:** ${machineLine(record.machine)}`,
    '',
    record.description,
    '',
    ...record.charts.flatMap((chart, i) => [`![${chart.title}](${chartFile(record.id, i)})`, '']),
    ...record.tables.flatMap(markdownTable),
    ...(record.checks.length > 0
      ? [
          '**Targets**',
          '',
          ...record.checks.map((c) => `- ${c.name}: ${c.measured} (target ${c.target}) ${verdict(c.met)}`),
          '',
        ]
      : []),
  ].join('\n');
}

/** Writes the JSON and Markdown files under `dir`; returns the record. */
export async function writeSuiteResult(
  dir: URL,
  result: SuiteResult,
  machine: MachineInfo,
): Promise<SuiteRecord> {
  const record: SuiteRecord = { ...result, date: new Date().toISOString(), machine };
  await mkdir(dir, { recursive: true });
  await writeFile(new URL(`${result.id}.json`, dir), `${JSON.stringify(record, null, 2)}\n`);
  await writeFile(new URL(`${result.id}.md`, dir), renderSuiteMarkdown(record));
  await writeCharts(dir, result.id, result);
  await writeReport(dir);
  return record;
}

/** Replaces the suite's SVG files with this run's charts. */
export async function writeCharts(dir: URL, id: string, result: Pick<SuiteResult, 'charts'>): Promise<void> {
  const stale = (await readdir(dir)).filter((file) => file.startsWith(`${id}-`) && file.endsWith('.svg'));
  await Promise.all(stale.map((file) => rm(new URL(file, dir))));
  await Promise.all(
    result.charts.map((chart, i) => writeFile(new URL(chartFile(id, i), dir), renderChart(chart))),
  );
}

const REPORT_HEADER = [
  '# Benchmark results',
  '',
  'The latest run of each suite, written by `npm run bench` (`--suite <id>`); each section names the machine and the load it started under. What every figure means and why each target is what it is: [the bench README](../README.md).',
  '',
];

/** Rebuilds `results/README.md` from every suite's latest Markdown (the proxy suite's is `latest.md`). */
export async function writeReport(dir: URL): Promise<void> {
  const files = new Set(await readdir(dir));
  const sections: string[] = [];
  for (const id of SUITE_IDS) {
    const file = id === 'proxy' ? 'latest.md' : `${id}.md`;
    if (!files.has(file)) continue;
    const markdown = await readFile(new URL(file, dir), 'utf8');
    sections.push(id === 'proxy' ? `### Proxy hot path\n\n${markdown}` : markdown);
  }
  const toc = SUITE_IDS.filter((id) => files.has(id === 'proxy' ? 'latest.md' : `${id}.md`)).map(
    (id) => `- [${id}](${id === 'proxy' ? 'latest.md' : `${id}.md`})`,
  );
  await writeFile(new URL('README.md', dir), [...REPORT_HEADER, ...toc, '', ...sections].join('\n'));
}

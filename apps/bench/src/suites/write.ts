/** Writes a suite's result as `results/<id>.json` and `results/<id>.md`. */
import { mkdir, writeFile } from 'node:fs/promises';
import type { MachineInfo } from '../machine.ts';
import type { Cell, SuiteResult, SuiteTable } from './types.ts';

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
  return record;
}

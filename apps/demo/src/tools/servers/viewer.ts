/**
 * The file viewer tool: reads its input (env, file or URL delivery), downloads the data files it
 * names from the demo app, and shows each CSV file as an HTML table. It listens only once every
 * file is loaded, so "ready" means "has its data".
 */

import type { CsvTable } from './csv.ts';
import { isNumericColumn, parseCsv } from './csv.ts';
import {
  download,
  escapeHtml,
  inputSection,
  log,
  readInput,
  serveInputJson,
  startServer,
  toolPage,
} from './toolkit.ts';

interface LoadedFile {
  readonly name: string;
  readonly table: CsvTable;
}

const received = await readInput();
log('viewer', `input delivered by ${received.via}`);
const maxRows = Math.max(1, Number(received.input.parameters?.maxRows ?? 200) || 200);
const files: LoadedFile[] = [];
for (const file of received.input.files ?? []) {
  const table = parseCsv(await download(file));
  log('viewer', `loaded ${file.name}: ${table.rows.length} rows, ${table.columns.length} columns`);
  files.push({ name: file.name, table });
}

function renderTable(file: LoadedFile, index: number): string {
  const { columns, rows } = file.table;
  const numeric = columns.map((_, column) => isNumericColumn(rows, column));
  const shown = rows.slice(0, maxRows);
  const head = columns.map((column) => `<th scope="col">${escapeHtml(column)}</th>`).join('');
  const body = shown
    .map(
      (row) =>
        `<tr>${columns
          .map(
            (_, column) =>
              `<td${numeric[column] ? ' class="num"' : ''}>${escapeHtml(row[column] ?? '')}</td>`,
          )
          .join('')}</tr>`,
    )
    .join('\n');
  const note =
    rows.length > shown.length ? `first ${shown.length} of ${rows.length} rows` : `${rows.length} rows`;
  return `<section aria-labelledby="file-${index}">
<h2 id="file-${index}">${escapeHtml(file.name)} <small>(${note}, ${columns.length} columns)</small></h2>
<div class="scroll" tabindex="0" aria-label="${escapeHtml(file.name)} table">
<table data-testid="data-table"><thead><tr>${head}</tr></thead><tbody>
${body}
</tbody></table></div></section>`;
}

const page = toolPage({
  title: 'File viewer',
  accent: '#2f6fdf',
  body:
    (files.length === 0 ? '<section><h2>No data files</h2><p>The input named no files.</p></section>' : '') +
    files.map(renderTable).join('\n') +
    inputSection(received),
});

startServer('viewer', (req, res) => {
  if (serveInputJson(req.url, received, res)) return;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(page);
});

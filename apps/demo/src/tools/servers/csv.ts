/**
 * A small CSV reader (RFC 4180: quoted fields, doubled quotes, CRLF or LF line ends), copied
 * into the file viewer's image. Node built-ins only.
 */

/** A parsed table: the header row and the data rows. */
export interface CsvTable {
  /** Column names from the first row. */
  readonly columns: readonly string[];
  /** Data rows; each has as many cells as it had in the file. */
  readonly rows: readonly (readonly string[])[];
}

/** Parses CSV text; the first record is the header. A `;` or tab is used when the header has it and no comma. */
export function parseCsv(text: string): CsvTable {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const firstLine = body.slice(0, body.search(/\r?\n|$/));
  const delimiter = firstLine.includes(',')
    ? ','
    : firstLine.includes(';')
      ? ';'
      : firstLine.includes('\t')
        ? '\t'
        : ',';
  const records = parseRecords(body, delimiter);
  const [columns = [], ...rows] = records;
  return { columns, rows };
}

function parseRecords(text: string, delimiter: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  let index = 0;
  const endField = (): void => {
    record.push(field);
    field = '';
  };
  const endRecord = (): void => {
    endField();
    // A blank line is no record.
    if (!(record.length === 1 && record[0] === '')) records.push(record);
    record = [];
  };
  while (index < text.length) {
    const char = text[index] as string;
    if (quoted) {
      if (char === '"' && text[index + 1] === '"') {
        field += '"';
        index += 2;
        continue;
      }
      if (char === '"') quoted = false;
      else field += char;
      index += 1;
      continue;
    }
    if (char === '"' && field === '') quoted = true;
    else if (char === delimiter) endField();
    else if (char === '\n') endRecord();
    else if (char === '\r' && text[index + 1] === '\n') {
      endRecord();
      index += 1;
    } else field += char;
    index += 1;
  }
  if (field !== '' || record.length > 0) endRecord();
  return records;
}

/** Whether every non-empty cell of a column is a number (right-aligned in the table). */
export function isNumericColumn(rows: readonly (readonly string[])[], column: number): boolean {
  let seen = false;
  for (const row of rows) {
    const cell = row[column]?.trim() ?? '';
    if (cell === '' || cell === 'NA') continue;
    if (!/^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/.test(cell)) return false;
    seen = true;
  }
  return seen;
}

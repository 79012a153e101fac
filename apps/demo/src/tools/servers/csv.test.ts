import { describe, expect, it } from 'vitest';
import { isNumericColumn, parseCsv } from './csv.ts';

describe('parseCsv', () => {
  it('reads quoted fields with commas, doubled quotes and line breaks', () => {
    const table = parseCsv('name,note\r\n"Smith, J","said ""hi"""\r\n"two\nlines",x\r\n');
    expect(table.columns).toEqual(['name', 'note']);
    expect(table.rows).toEqual([
      ['Smith, J', 'said "hi"'],
      ['two\nlines', 'x'],
    ]);
  });

  it('skips blank lines and a byte order mark, keeps empty cells', () => {
    expect(parseCsv('\uFEFFa,b\n\n1,\n')).toEqual({ columns: ['a', 'b'], rows: [['1', '']] });
  });

  it('uses ; or tab when the header has no comma', () => {
    expect(parseCsv('a;b\n1;2').rows).toEqual([['1', '2']]);
    expect(parseCsv('a\tb\n1\t2').rows).toEqual([['1', '2']]);
  });

  it('reads a file without a final line break', () => {
    expect(parseCsv('a\n1').rows).toEqual([['1']]);
  });
});

describe('isNumericColumn', () => {
  it('is true when every filled cell is a number', () => {
    const rows = [
      ['1.5', 'x'],
      ['', 'y'],
      ['-2e3', '3'],
      ['NA', ''],
    ];
    expect(isNumericColumn(rows, 0)).toBe(true);
    expect(isNumericColumn(rows, 1)).toBe(false);
    expect(isNumericColumn([[''], ['']], 0)).toBe(false);
  });
});

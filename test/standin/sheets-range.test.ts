// A1 notation: parsing, resolving against a spreadsheet's sheets, and the answer's `range`.
import { describe, expect, it } from 'vitest';
import {
  columnIndex,
  columnName,
  formatRange,
  parseRange,
  quoteSheetName,
  resolveRange,
  type GridSheet,
} from './sheets-range.ts';

const SHEETS: GridSheet[] = [
  { title: 'Sheet1', rowCount: 1000, columnCount: 26 },
  { title: 'My sheet', rowCount: 1000, columnCount: 26 },
  { title: "It's", rowCount: 5, columnCount: 3 },
  { title: 'A1', rowCount: 1000, columnCount: 26 },
];

/** The `range` Google answers with, or the failure. */
function answer(text: string): string {
  const parsed = parseRange(text);
  if (!parsed) return 'unparsable';
  const resolved = resolveRange(parsed, SHEETS);
  if (!resolved.ok) return resolved.reason === 'exceedsGrid' ? resolved.message : resolved.reason;
  return formatRange(resolved);
}

describe('A1 ranges', () => {
  it.each([
    ['Sheet1!A1:C10', 'Sheet1!A1:C10'],
    ['sheet1!a1:c10', 'unparsable'],
    ['Sheet1!a1:c10', 'Sheet1!A1:C10'],
    ['Sheet1!C10:A1', 'Sheet1!A1:C10'],
    ['Sheet1!B2', 'Sheet1!B2'],
    ['Sheet1!A:B', 'Sheet1!A1:B1000'],
    ['Sheet1!2:3', 'Sheet1!A2:Z3'],
    ['Sheet1!A5:C', 'Sheet1!A5:C1000'],
    ['Sheet1', 'Sheet1!A1:Z1000'],
    ["'My sheet'!A:B", "'My sheet'!A1:B1000"],
    ["'My sheet'", "'My sheet'!A1:Z1000"],
    ['My sheet!A1', "'My sheet'!A1"],
    ["'It''s'!A1:B2", "'It''s'!A1:B2"],
    ['A1:C', 'Sheet1!A1:C1000'],
    ['B3', 'Sheet1!B3'],
    // A sheet named like a cell wins over the cell on the first sheet.
    ['A1', "'A1'!A1:Z1000"],
    [
      'Sheet1!AA1:AB2',
      "Range ('Sheet1'!AA1:AB2) exceeds grid limits. Max rows: 1000, max columns: 26",
    ],
    ["'It''s'!A1:A9", "Range ('It''s'!A1:A9) exceeds grid limits. Max rows: 5, max columns: 3"],
  ])('%s → %s', (text, expected) => {
    expect(answer(text)).toBe(expected);
  });

  it.each([
    'Nosuch!A1',
    'Nosuch',
    '',
    'Sheet1!',
    '!A1',
    "'Sheet1",
    "'Sheet1'A1",
    "''!A1",
    'Sheet1!A',
    'Sheet1!5',
    'Sheet1!A1:B2:C3',
    'Sheet1!A0',
    'Sheet1!AAAA1',
    'Sheet1!A:B5',
    'Sheet1!A1:5',
    'Sheet1!1A',
    'Sheet1!A1-B2',
  ])('%j is unparsable', (text) => {
    expect(answer(text)).toBe('unparsable');
  });

  it('columns convert both ways', () => {
    expect([0, 25, 26, 51, 701, 702, 18_277].map(columnName)).toEqual([
      'A',
      'Z',
      'AA',
      'AZ',
      'ZZ',
      'AAA',
      'ZZZ',
    ]);
    for (const n of [0, 25, 26, 51, 701, 702, 18_277]) expect(columnIndex(columnName(n))).toBe(n);
    expect(columnIndex('ab')).toBe(27);
  });

  it('quotes sheet names that are not plain words or look like cells', () => {
    expect(
      ['Sheet1', 'data_2024', 'My sheet', '2024', 'AB12', 'R1C1', "It's"].map(quoteSheetName),
    ).toEqual(['Sheet1', 'data_2024', "'My sheet'", "'2024'", "'AB12'", "'R1C1'", "'It''s'"]);
  });
});

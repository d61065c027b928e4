// Cell values of spreadsheets, by spreadsheet id. Who owns a spreadsheet, its title and whether
// it still exists live in the Drive store (a spreadsheet IS a Drive file), so renaming or
// deleting it through Drive behaves as in Google.
import type { GridSheet } from './sheets-range.ts';

/** A new sheet's grid in Google Sheets: 1000 rows, columns A to Z. */
const DEFAULT_ROWS = 1000;
const DEFAULT_COLUMNS = 26;

export interface Sheet extends GridSheet {
  /** Formatted values, row by row; rows may be ragged and shorter than the grid. */
  rows: readonly (readonly string[])[];
}

/** A spreadsheet created empty (through Drive) has one sheet, "Sheet1". */
const EMPTY: readonly Sheet[] = [
  { title: 'Sheet1', rows: [], rowCount: DEFAULT_ROWS, columnCount: DEFAULT_COLUMNS },
];

export class SheetsStore {
  readonly #grids = new Map<string, readonly Sheet[]>();

  /** Sheets in the order given; the grid grows past 1000 × 26 to hold the values. */
  set(
    spreadsheetId: string,
    sheets: Readonly<Record<string, readonly (readonly string[])[]>>,
  ): void {
    this.#grids.set(spreadsheetId, toSheets(sheets));
  }

  sheetsOf(spreadsheetId: string): readonly Sheet[] {
    return this.#grids.get(spreadsheetId) ?? EMPTY;
  }

  delete(spreadsheetId: string): void {
    this.#grids.delete(spreadsheetId);
  }

  reset(): void {
    this.#grids.clear();
  }
}

function toSheets(sheets: Readonly<Record<string, readonly (readonly string[])[]>>): Sheet[] {
  const entries = Object.entries(sheets);
  if (entries.length === 0) throw new RangeError('a spreadsheet needs at least one sheet');
  const seen = new Set<string>();
  return entries.map(([title, rows]) => {
    // Google refuses a second sheet whose name differs only in case, and names over 100 chars.
    const key = title.toLowerCase();
    if (title === '' || title.length > 100 || seen.has(key)) {
      throw new RangeError(`sheet names must be 1 to 100 characters and unique: ${title}`);
    }
    seen.add(key);
    if (
      !Array.isArray(rows) ||
      !rows.every((row) => Array.isArray(row) && row.every((v) => typeof v === 'string'))
    ) {
      throw new RangeError(`sheet ${title}: values must be rows of strings`);
    }
    const widest = rows.reduce((max, row) => Math.max(max, row.length), 0);
    return {
      title,
      rows: rows.map((row) => [...row]),
      rowCount: Math.max(DEFAULT_ROWS, rows.length),
      columnCount: Math.max(DEFAULT_COLUMNS, widest),
    };
  });
}

// A1 notation of the Sheets API, as values.get reads it: `Sheet1!A1:C10`, `'My sheet'!A:B`,
// `A1:C` (first sheet, rows to the end), `2:5`, a bare sheet name (the whole sheet). Pure
// functions: parse the text, then resolve it against the spreadsheet's sheets and grid sizes.
// https://developers.google.com/sheets/api/guides/concepts#cell

/** Cell bounds, 0-based and inclusive; an undefined end is open (the grid's last row/column). */
export interface CellBounds {
  startRow: number;
  endRow: number | undefined;
  startColumn: number;
  endColumn: number | undefined;
}

export type ParsedRange =
  /** A sheet named explicitly (quoted, or before a `!`); no cells means the whole sheet. */
  | { kind: 'sheet'; sheet: string; cells: CellBounds | undefined }
  /**
   * Unquoted text without `!`: a sheet of that name if one exists (whole sheet), otherwise
   * `cells` on the first sheet. Google reads `Sheet1` and `A1` this way.
   */
  | { kind: 'bare'; text: string; cells: CellBounds | undefined };

/** Sheets' own limits: columns up to ZZZ, ten million cells (so never more rows). */
const MAX_COLUMNS = 18_278;
const MAX_ROWS = 10_000_000;

interface Ref {
  column: number | undefined;
  row: number | undefined;
}

function parseRef(text: string): Ref | null {
  const match = /^([A-Za-z]{0,3})([0-9]*)$/.exec(text);
  if (!match || text === '') return null;
  const [, letters = '', digits = ''] = match;
  const column = letters === '' ? undefined : columnIndex(letters);
  const row = digits === '' ? undefined : Number(digits) - 1;
  if (row !== undefined && !(row >= 0 && row < MAX_ROWS)) return null;
  if (column !== undefined && column >= MAX_COLUMNS) return null;
  return { column, row };
}

/** `A1`, `A1:C10`, `A:C`, `2:5`, `A5:C` (rows 5 to the end); null for anything else. */
export function parseCells(text: string): CellBounds | null {
  const parts = text.split(':');
  if (parts.length > 2) return null;
  const a = parseRef(parts[0] ?? '');
  if (!a) return null;
  if (parts.length === 1) {
    // A lone reference must name one cell: `A` or `5` alone is not a range.
    if (a.column === undefined || a.row === undefined) return null;
    return { startRow: a.row, endRow: a.row, startColumn: a.column, endColumn: a.column };
  }
  const b = parseRef(parts[1] ?? '');
  if (!b) return null;
  const span = (x: number | undefined, y: number | undefined): [number, number | undefined] =>
    x === undefined || y === undefined ? [0, undefined] : [Math.min(x, y), Math.max(x, y)];
  if (a.column !== undefined && a.row !== undefined) {
    if (b.column !== undefined && b.row !== undefined) {
      const [startRow, endRow] = span(a.row, b.row);
      const [startColumn, endColumn] = span(a.column, b.column);
      return { startRow, endRow, startColumn, endColumn };
    }
    if (b.column !== undefined) {
      // `A5:C`: from row 5 down to the last row.
      const [startColumn, endColumn] = span(a.column, b.column);
      return { startRow: a.row, endRow: undefined, startColumn, endColumn };
    }
    return null;
  }
  if (
    a.row === undefined &&
    b.row === undefined &&
    a.column !== undefined &&
    b.column !== undefined
  ) {
    const [startColumn, endColumn] = span(a.column, b.column);
    return { startRow: 0, endRow: undefined, startColumn, endColumn };
  }
  if (
    a.column === undefined &&
    b.column === undefined &&
    a.row !== undefined &&
    b.row !== undefined
  ) {
    const [startRow, endRow] = span(a.row, b.row);
    return { startRow, endRow, startColumn: 0, endColumn: undefined };
  }
  return null;
}

/** The range text of values.get; null when it cannot be A1 notation at all. */
export function parseRange(text: string): ParsedRange | null {
  if (text.startsWith("'")) {
    // Quoted sheet name; a quote inside is doubled: 'It''s'!A1.
    let i = 1;
    let sheet = '';
    for (;;) {
      const c = text[i];
      if (c === undefined) return null;
      if (c === "'") {
        if (text[i + 1] === "'") {
          sheet += "'";
          i += 2;
          continue;
        }
        i += 1;
        break;
      }
      sheet += c;
      i += 1;
    }
    if (sheet === '') return null;
    if (i === text.length) return { kind: 'sheet', sheet, cells: undefined };
    if (text[i] !== '!') return null;
    const cells = parseCells(text.slice(i + 1));
    return cells ? { kind: 'sheet', sheet, cells } : null;
  }
  const bang = text.lastIndexOf('!');
  if (bang >= 0) {
    const sheet = text.slice(0, bang);
    const cells = parseCells(text.slice(bang + 1));
    return sheet !== '' && cells ? { kind: 'sheet', sheet, cells } : null;
  }
  if (text === '') return null;
  return { kind: 'bare', text, cells: parseCells(text) ?? undefined };
}

export interface GridSheet {
  title: string;
  rowCount: number;
  columnCount: number;
}

export type Resolution<S extends GridSheet = GridSheet> =
  | {
      ok: true;
      sheet: S;
      startRow: number;
      endRow: number;
      startColumn: number;
      endColumn: number;
    }
  | { ok: false; reason: 'unparsable' }
  /** `message` is Google's text, e.g. "Range ('Sheet1'!A1:AA5) exceeds grid limits. …". */
  | { ok: false; reason: 'exceedsGrid'; message: string };

/**
 * Resolves a parsed range on a spreadsheet's sheets (in order; the first is the default). Sheet
 * names match exactly: a stand-in that forgave case could pass code that Google might refuse.
 */
export function resolveRange<S extends GridSheet>(
  parsed: ParsedRange,
  sheets: readonly S[],
): Resolution<S> {
  let sheet: S | undefined;
  let cells: CellBounds | undefined;
  if (parsed.kind === 'sheet') {
    sheet = sheets.find((s) => s.title === parsed.sheet);
    cells = parsed.cells;
  } else {
    sheet = sheets.find((s) => s.title === parsed.text);
    if (!sheet && parsed.cells) {
      sheet = sheets[0];
      cells = parsed.cells;
    }
  }
  if (!sheet) return { ok: false, reason: 'unparsable' };
  const bounds = cells ?? { startRow: 0, endRow: undefined, startColumn: 0, endColumn: undefined };
  const endRow = bounds.endRow ?? sheet.rowCount - 1;
  const endColumn = bounds.endColumn ?? sheet.columnCount - 1;
  if (endRow >= sheet.rowCount || endColumn >= sheet.columnCount) {
    const a1 = cellSpan(bounds.startRow, endRow, bounds.startColumn, endColumn);
    return {
      ok: false,
      reason: 'exceedsGrid',
      message: `Range ('${sheet.title.replace(/'/g, "''")}'!${a1}) exceeds grid limits. Max rows: ${sheet.rowCount}, max columns: ${sheet.columnCount}`,
    };
  }
  return {
    ok: true,
    sheet,
    startRow: bounds.startRow,
    endRow,
    startColumn: bounds.startColumn,
    endColumn,
  };
}

/** `A` → 0, `Z` → 25, `AA` → 26 (case-insensitive). */
export function columnIndex(letters: string): number {
  let n = 0;
  for (const c of letters.toUpperCase()) n = n * 26 + (c.charCodeAt(0) - 64);
  return n - 1;
}

/** 0 → `A`, 25 → `Z`, 26 → `AA`. */
export function columnName(index: number): string {
  let name = '';
  for (let n = index + 1; n > 0; n = Math.floor((n - 1) / 26)) {
    name = String.fromCharCode(65 + ((n - 1) % 26)) + name;
  }
  return name;
}

function cellSpan(
  startRow: number,
  endRow: number,
  startColumn: number,
  endColumn: number,
): string {
  const first = `${columnName(startColumn)}${startRow + 1}`;
  return startRow === endRow && startColumn === endColumn
    ? first
    : `${first}:${columnName(endColumn)}${endRow + 1}`;
}

/**
 * Sheet names are quoted in answers unless they are plain words that cannot be read as a cell:
 * `Sheet1!A1`, but `'My sheet'!A1`, `'2024'!A1`, `'AB12'!A1`, `'R1C1'!A1`.
 */
export function quoteSheetName(title: string): string {
  const plain =
    /^[A-Za-z_][A-Za-z0-9_]*$/.test(title) &&
    !/^[A-Za-z]{1,3}[0-9]+$/.test(title) &&
    !/^[Rr][0-9]*[Cc][0-9]*$/.test(title);
  return plain ? title : `'${title.replace(/'/g, "''")}'`;
}

/** The `range` of a values.get answer: the resolved range with the sheet name, e.g. `Sheet1!A1:C10`. */
export function formatRange(resolved: Extract<Resolution, { ok: true }>): string {
  const { sheet, startRow, endRow, startColumn, endColumn } = resolved;
  return `${quoteSheetName(sheet.title)}!${cellSpan(startRow, endRow, startColumn, endColumn)}`;
}

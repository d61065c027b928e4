// The built-in `sheets-read` job: reads the range of the spreadsheet the user picked
// (`spreadsheets.values.get`, https://developers.google.com/sheets/api/reference/rest/v4/spreadsheets.values/get),
// records how many rows and columns it read, and hands the values to later jobs of the same run
// (drive-export with `source: sheets-read` writes them to Drive). Read-only, so idempotent.
import { z } from 'zod';
import { defineJob } from '../define.ts';
import type { SheetValues } from '../export-source.ts';

export const SPREADSHEETS_READONLY_SCOPE = 'https://www.googleapis.com/auth/spreadsheets.readonly';

export default defineJob({
  name: 'sheets-read',
  title: 'reading the spreadsheet range you picked in Google Sheets',
  scopes: [SPREADSHEETS_READONLY_SCOPE],
  settings: z.object({
    spreadsheetId: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,200}$/, 'a spreadsheet id (the part of its URL after /d/)')
      .describe('The spreadsheet to read (the id in its URL)'),
    range: z
      .string()
      .min(1)
      .max(200)
      .default('A1:Z1000')
      .describe('A1 notation, e.g. Sheet1!A1:D50'),
  }),
  schedule: 'daily',
  async run(context) {
    const sheets = await context.google.sheets();
    const { spreadsheetId, range } = context.settings;
    const answer = await sheets.spreadsheets.values.get({
      spreadsheetId,
      range,
      majorDimension: 'ROWS',
    });
    const values = (answer.data.values ?? []).map((row) => row.map((cell) => String(cell)));
    const output: SheetValues = { range: answer.data.range ?? range, values };
    return {
      effect: 'read',
      details: {
        rows: values.length,
        columns: Math.max(0, ...values.map((row) => row.length)),
      },
      output,
    };
  },
});

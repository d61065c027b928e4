// Where the drive-export job's content comes from: a small but real report about the connection
// itself (the default), or the values the sheets-read job read for the same user in the same run.
import type { ConnectionMeta, JobResult } from './define.ts';
import type { RunPeriod } from '../runs/run-id.ts';

export interface ExportInput {
  readonly connection: ConnectionMeta;
  readonly period: RunPeriod;
  readonly idempotencyKey: string;
  /** Time the export is produced (ms). */
  readonly now: number;
  /** Results of the jobs that ran before, for this user in this run. */
  readonly earlier: ReadonlyMap<string, JobResult>;
}

export interface ExportContent {
  /** File extension without the dot; the file is `export-<period label>.<extension>`. */
  readonly extension: string;
  readonly mimeType: string;
  readonly body: string;
}

export interface ExportSource {
  produce(input: ExportInput): Promise<ExportContent>;
}

/** RFC 4180 CSV field. Leading = + - @ are prefixed with ' so spreadsheets never run formulas. */
export function csvField(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function toCsv(rows: readonly (readonly string[])[]): string {
  return rows.map((row) => row.map(csvField).join(',')).join('\r\n') + '\r\n';
}

export const connectionReportSource: ExportSource = {
  produce({ connection, period, now }) {
    const rows: string[][] = [
      ['field', 'value'],
      ['account', connection.email ?? connection.sub],
      ['period_start', new Date(period.start).toISOString()],
      ['period_end', new Date(period.end).toISOString()],
      ['connected_at', connection.connectedAt.toISOString()],
      [
        'days_connected',
        String(Math.max(0, Math.floor((now - connection.connectedAt.getTime()) / 86400e3))),
      ],
      ...connection.scopes.map((scope) => ['granted_scope', scope]),
      ['run_id', period.runId],
      ['generated_at', new Date(now).toISOString()],
    ];
    return Promise.resolve({ extension: 'csv', mimeType: 'text/csv', body: toCsv(rows) });
  },
};

/** What sheets-read hands to later jobs (its `output`). */
export interface SheetValues {
  readonly range: string;
  readonly values: readonly (readonly string[])[];
}

export const sheetValuesSource: ExportSource = {
  produce({ earlier }) {
    const read = earlier.get('sheets-read')?.output as SheetValues | undefined;
    if (read === undefined)
      throw new Error(
        'drive-export source "sheets-read" needs the sheets-read job to run first for this user (JOBS order)',
      );
    return Promise.resolve({ extension: 'csv', mimeType: 'text/csv', body: toCsv(read.values) });
  },
};

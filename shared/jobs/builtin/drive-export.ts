// The built-in `drive-export` job: writes each period's export into the user's Drive, in a folder
// created on the first run, one file per period. Two Google calls per user in the steady state
// (the runner's refresh and one upload): the folder's id is remembered on the connection
// (`remember`), looked up again only when Drive says it is gone, and the file is looked up only
// when an earlier attempt for this user and period may have created it (`context.retried`), so a
// retried run updates the same file instead of adding one (docs/jobs.md#memory-and-retries).
// `drive.file` lets the app see only files it created, so a user's own folder of the same name is
// never touched. What it writes comes from an ExportSource (../export-source.ts): by default a
// report about the connection, or (setting `source: sheets-read`) the values the sheets-read job
// read in the same run.
import { z } from 'zod';
import { defineJob, type JobDefinition } from '../define.ts';
import { connectionReportSource, sheetValuesSource, type ExportSource } from '../export-source.ts';
import type { drive_v3 } from '@googleapis/drive';

export const DRIVE_FILE_SCOPE = 'https://www.googleapis.com/auth/drive.file';
export const FOLDER_MIME_TYPE = 'application/vnd.google-apps.folder';

/** Drive `q` string literal: backslash and quote escaped. */
export function driveQuote(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

const settings = z.object({
  folder: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .describe('Drive folder for the exports (default: DRIVE_EXPORT_FOLDER)'),
  source: z
    .enum(['connection', 'sheets-read'])
    .default('connection')
    .describe('What to export: a report on the connection, or the values sheets-read read'),
});

export interface DriveExportOptions {
  /** Replaces what is exported (tests; an app with its own data writes its own job). */
  readonly source?: ExportSource;
  readonly clock?: () => number;
}

export function createDriveExportJob(options: DriveExportOptions = {}): JobDefinition {
  const now = options.clock ?? Date.now;
  return defineJob({
    name: 'drive-export',
    title: 'a daily export file in your Google Drive',
    scopes: [DRIVE_FILE_SCOPE],
    settings,
    schedule: 'daily',
    async run(context) {
      const drive = await context.google.drive();
      const source =
        options.source ??
        (context.settings.source === 'sheets-read' ? sheetValuesSource : connectionReportSource);
      const content = await source.produce({
        connection: context.connection,
        period: context.period,
        idempotencyKey: context.idempotencyKey,
        now: now(),
        earlier: context.earlier,
      });
      const folderName = context.settings.folder ?? context.operator.exportFolderName;
      const name = `export-${context.period.label}.${content.extension}`;
      const media = { mimeType: content.mimeType, body: content.body };
      const details = { bytes: Buffer.byteLength(content.body) };
      const remembered =
        context.memory.folderName === folderName && typeof context.memory.folderId === 'string'
          ? context.memory.folderId
          : undefined;
      /** Into a folder: the file of an earlier attempt updated, else a new one. */
      const write = async (folder: Folder) => {
        const remember = { folderId: folder.id, folderName };
        // A folder created by this very call is empty, and a first attempt made nothing.
        const fileId =
          folder.created || !context.retried ? undefined : await findFile(drive, name, folder.id);
        if (fileId) {
          await drive.files.update({ fileId, media, fields: 'id' });
          return { effect: 'updated', details, remember };
        }
        await drive.files.create({
          requestBody: {
            name,
            parents: [folder.id],
            mimeType: content.mimeType,
            appProperties: { consentVaultRun: context.idempotencyKey },
          },
          media,
          fields: 'id',
        });
        return { effect: 'created', details, remember };
      };
      if (remembered === undefined) return write(await findOrCreateFolder(drive, folderName));
      try {
        return await write({ id: remembered, created: false });
      } catch (error) {
        // The user deleted the folder (or it is no longer the app's to see): find or make one.
        if (!isNotFound(error)) throw error;
        context.log.info('remembered export folder is gone; looking it up again');
        return write(await findOrCreateFolder(drive, folderName));
      }
    },
  });
}

interface Folder {
  readonly id: string;
  readonly created: boolean;
}

function isNotFound(error: unknown): boolean {
  const status = (error as { status?: unknown; response?: { status?: unknown } } | null)?.response
    ?.status;
  return status === 404;
}

export default createDriveExportJob();

type Drive = drive_v3.Drive;
async function findFile(drive: Drive, name: string, folderId: string): Promise<string | undefined> {
  const found = await drive.files.list({
    q: `name = ${driveQuote(name)} and ${driveQuote(folderId)} in parents and trashed = false`,
    fields: 'files(id)',
    pageSize: 10,
    spaces: 'drive',
  });
  return found.data.files?.[0]?.id ?? undefined;
}

async function findOrCreateFolder(drive: Drive, folderName: string): Promise<Folder> {
  const found = await drive.files.list({
    q: `mimeType = ${driveQuote(FOLDER_MIME_TYPE)} and name = ${driveQuote(folderName)} and trashed = false`,
    fields: 'files(id)',
    pageSize: 10,
    spaces: 'drive',
  });
  const id = found.data.files?.[0]?.id;
  if (id) return { id, created: false };
  const created = await drive.files.create({
    requestBody: { name: folderName, mimeType: FOLDER_MIME_TYPE },
    fields: 'id',
  });
  if (!created.data.id) throw new Error('Drive created a folder without an id');
  return { id: created.data.id, created: true };
}

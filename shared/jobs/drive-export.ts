// The built-in `drive-export` job: writes each period's export into the user's Drive, in a folder
// created on the first run, one file per period. Idempotent: the folder and the file are looked
// up before they are created, so a retried run updates the same file instead of adding one.
// `drive.file` lets the app see only files it created, so a user's own folder of the same name is
// never touched. @googleapis/drive (~50 ms to load) is imported inside run() only.
import type { Job, JobContext, JobDefinition, JobResult, JobSettings } from './types.ts';
import { DRIVE_FILE_SCOPE } from './registry.ts';
import { connectionReportSource, type ExportSource } from './export-source.ts';

export const FOLDER_MIME_TYPE = 'application/vnd.google-apps.folder';

export interface DriveExportOptions {
  readonly source?: ExportSource;
  readonly clock?: () => number;
}

type DriveModule = typeof import('@googleapis/drive');
let driveModule: Promise<DriveModule> | undefined;

/** Drive `q` string literal: backslash and quote escaped. */
export function driveQuote(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export const driveExportJob: JobDefinition<DriveExportOptions> = {
  name: 'drive-export',
  scopes: [DRIVE_FILE_SCOPE],
  create(settings: JobSettings, options: DriveExportOptions = {}): Job {
    const source = options.source ?? connectionReportSource;
    const now = options.clock ?? Date.now;
    return {
      name: 'drive-export',
      scopes: [DRIVE_FILE_SCOPE],
      async run(context: JobContext): Promise<JobResult> {
        driveModule ??= import('@googleapis/drive');
        const { drive } = await driveModule;
        // retry: false — the runner owns backoff (Retry-After, user budget); gaxios would
        // otherwise retry on its own and ignore both.
        const api = drive({
          version: 'v3',
          auth: context.auth,
          rootUrl: settings.apiRoot,
          retry: false,
          timeout: Math.max(1000, context.deadline - now()),
        });
        const content = await source.produce({
          connection: context.connection,
          period: context.period,
          idempotencyKey: context.idempotencyKey,
          now: now(),
        });
        const folderId = await findOrCreateFolder(api, settings.exportFolderName);
        const name = `export-${context.period.label}.${content.extension}`;
        const existing = await api.files.list({
          q: `name = ${driveQuote(name)} and ${driveQuote(folderId)} in parents and trashed = false`,
          fields: 'files(id)',
          pageSize: 10,
          spaces: 'drive',
        });
        const fileId = existing.data.files?.[0]?.id;
        const media = { mimeType: content.mimeType, body: content.body };
        // Uploads need rootUrl per call: googleapis-common rewrites only `url` from the global
        // rootUrl, never the upload `mediaUrl`, which would still point at www.googleapis.com.
        const upload = { rootUrl: settings.apiRoot };
        if (fileId) {
          await api.files.update({ fileId, media, fields: 'id' }, upload);
          return { effect: 'updated' };
        }
        await api.files.create(
          {
            requestBody: {
              name,
              parents: [folderId],
              mimeType: content.mimeType,
              appProperties: { consentVaultRun: context.idempotencyKey },
            },
            media,
            fields: 'id',
          },
          upload,
        );
        return { effect: 'created' };
      },
    };
  },
};

type DriveApi = ReturnType<DriveModule['drive']>;

async function findOrCreateFolder(api: DriveApi, folderName: string): Promise<string> {
  const found = await api.files.list({
    q: `mimeType = ${driveQuote(FOLDER_MIME_TYPE)} and name = ${driveQuote(folderName)} and trashed = false`,
    fields: 'files(id)',
    pageSize: 10,
    spaces: 'drive',
  });
  const id = found.data.files?.[0]?.id;
  if (id) return id;
  const created = await api.files.create({
    requestBody: { name: folderName, mimeType: FOLDER_MIME_TYPE },
    fields: 'id',
  });
  if (!created.data.id) throw new Error('Drive created a folder without an id');
  return created.data.id;
}

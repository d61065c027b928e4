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
    let api: Promise<DriveApi> | undefined;
    return {
      name: 'drive-export',
      scopes: [DRIVE_FILE_SCOPE],
      async run(context: JobContext): Promise<JobResult> {
        // One Drive client per job instance (so per warm function instance), not per user:
        // building the API surface is not free. The user's OAuth2Client goes with each call.
        api ??= loadDrive(settings);
        const drive = await api;
        const call: MethodOptions = {
          auth: context.auth,
          timeout: Math.max(1000, context.deadline - now()),
        };
        const content = await source.produce({
          connection: context.connection,
          period: context.period,
          idempotencyKey: context.idempotencyKey,
          now: now(),
        });
        const folder = await findOrCreateFolder(drive, settings.exportFolderName, call);
        const name = `export-${context.period.label}.${content.extension}`;
        // A folder created by this very call is empty: nothing to look up.
        const fileId = folder.created
          ? undefined
          : (
              await drive.files.list(
                {
                  q: `name = ${driveQuote(name)} and ${driveQuote(folder.id)} in parents and trashed = false`,
                  fields: 'files(id)',
                  pageSize: 10,
                  spaces: 'drive',
                },
                call,
              )
            ).data.files?.[0]?.id;
        const media = { mimeType: content.mimeType, body: content.body };
        // Uploads need rootUrl per call: googleapis-common rewrites only `url` from the global
        // rootUrl, never the upload `mediaUrl`, which would still point at www.googleapis.com.
        const upload = { ...call, rootUrl: settings.apiRoot };
        if (fileId) {
          await drive.files.update({ fileId, media, fields: 'id' }, upload);
          return { effect: 'updated' };
        }
        await drive.files.create(
          {
            requestBody: {
              name,
              parents: [folder.id],
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
/** Per-call options: the user's auth and the remaining budget. */
type MethodOptions = { auth: JobContext['auth']; timeout: number };

async function loadDrive(settings: JobSettings): Promise<DriveApi> {
  driveModule ??= import('@googleapis/drive');
  const { drive } = await driveModule;
  // retry: false — the runner owns backoff (Retry-After, user budget); gaxios would otherwise
  // retry on its own and ignore both. No auth here: every call passes its user's client.
  return drive({ version: 'v3', rootUrl: settings.apiRoot, retry: false });
}

async function findOrCreateFolder(
  api: DriveApi,
  folderName: string,
  call: MethodOptions,
): Promise<{ id: string; created: boolean }> {
  const found = await api.files.list(
    {
      q: `mimeType = ${driveQuote(FOLDER_MIME_TYPE)} and name = ${driveQuote(folderName)} and trashed = false`,
      fields: 'files(id)',
      pageSize: 10,
      spaces: 'drive',
    },
    call,
  );
  const id = found.data.files?.[0]?.id;
  if (id) return { id, created: false };
  const created = await api.files.create(
    { requestBody: { name: folderName, mimeType: FOLDER_MIME_TYPE }, fields: 'id' },
    call,
  );
  if (!created.data.id) throw new Error('Drive created a folder without an id');
  return { id: created.data.id, created: true };
}

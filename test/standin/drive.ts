// Minimal Drive v3 under /drive/v3/ and /upload/drive/v3/, enough for @googleapis/drive with
// `rootUrl`: files.list / create / get / update / delete, with Google's error shapes.
import type { StandInCore } from './core.ts';
import { FOLDER_MIME_TYPE, fileResource, type DriveFile } from './drive-store.ts';
import {
  matchesQuery,
  parseDriveQuery,
  parseFields,
  project,
  type FieldTree,
} from './drive-query.ts';
import { bearerToken, contentType, jsonReply, type Reply, type RequestContext } from './http.ts';
import { boundaryOf, parseMultipart } from './multipart.ts';
import type { AccessTokenRecord } from './oauth-store.ts';
import { DRIVE, DRIVE_FILE, DRIVE_READONLY } from './scopes.ts';

export const DRIVE_PREFIX = '/drive/v3/';
export const UPLOAD_PREFIX = '/upload/drive/v3/';

const DEFAULT_FILE_FIELDS = parseFields('kind,id,name,mimeType') as FieldTree;
const DEFAULT_LIST_FIELDS = parseFields(
  'kind,incompleteSearch,nextPageToken,files(kind,id,name,mimeType)',
) as FieldTree;

interface DriveCaller {
  email: string;
  clientId: string;
  /** drive or drive.readonly: the whole Drive; drive.file only: files this client created. */
  seesEverything: boolean;
  canWrite: boolean;
}

class DriveError extends Error {
  readonly reply: Reply;
  constructor(reply: Reply) {
    super('drive error');
    this.reply = reply;
  }
}

export function driveError(
  code: number,
  message: string,
  reason: string,
  extra: { status?: string; location?: string; locationType?: string } = {},
  headers: Record<string, string> = {},
): Reply {
  const item: Record<string, string> = { message, domain: 'global', reason };
  if (extra.location) item['location'] = extra.location;
  if (extra.locationType) item['locationType'] = extra.locationType;
  const error: Record<string, unknown> = { code, message, errors: [item] };
  if (extra.status) error['status'] = extra.status;
  return jsonReply(code, { error }, headers);
}

const invalidParam = (location: string, message = 'Invalid Value'): DriveError =>
  new DriveError(driveError(400, message, 'invalid', { location, locationType: 'parameter' }));

const notFound = (id: string): DriveError =>
  new DriveError(
    driveError(404, `File not found: ${id}.`, 'notFound', {
      location: 'fileId',
      locationType: 'parameter',
    }),
  );

export function handleDrive(ctx: RequestContext, core: StandInCore): Reply {
  try {
    const caller = authorize(ctx, core);
    return dispatch(ctx, core, caller);
  } catch (err) {
    if (err instanceof DriveError) return err.reply;
    throw err;
  }
}

function authorize(ctx: RequestContext, core: StandInCore): DriveCaller {
  const token = bearerToken(ctx) ?? ctx.url.searchParams.get('access_token') ?? undefined;
  const record = token ? core.oauth.findAccessToken(token) : undefined;
  if (!record) {
    throw new DriveError(
      driveError(
        401,
        'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.',
        'authError',
        { status: 'UNAUTHENTICATED', location: 'Authorization', locationType: 'header' },
        {
          'www-authenticate': 'Bearer realm="https://accounts.google.com/", error="invalid_token"',
        },
      ),
    );
  }
  return callerFrom(record);
}

function callerFrom(record: AccessTokenRecord): DriveCaller {
  const scopes = new Set(record.scopes);
  return {
    email: record.grant.email,
    clientId: record.grant.clientId,
    seesEverything: scopes.has(DRIVE) || scopes.has(DRIVE_READONLY),
    canWrite: scopes.has(DRIVE) || scopes.has(DRIVE_FILE),
  };
}

function requireScope(caller: DriveCaller, write: boolean): void {
  if (write ? caller.canWrite : caller.canWrite || caller.seesEverything) return;
  throw new DriveError(
    driveError(403, 'Request had insufficient authentication scopes.', 'insufficientPermissions', {
      status: 'PERMISSION_DENIED',
    }),
  );
}

function dispatch(ctx: RequestContext, core: StandInCore, caller: DriveCaller): Reply {
  const path = ctx.url.pathname;
  const upload = path.startsWith(UPLOAD_PREFIX);
  const rest = path.slice(upload ? UPLOAD_PREFIX.length : DRIVE_PREFIX.length);
  const [collection, fileId, extra] = rest.split('/');
  if (collection !== 'files' || extra !== undefined) {
    return driveError(404, 'Not Found', 'notFound');
  }
  const id = fileId ? decodeURIComponent(fileId) : undefined;
  const method = ctx.method;
  if (id === undefined || id === '') {
    if (method === 'GET' && !upload) return listFiles(ctx, core, caller);
    if (method === 'POST') return createFile(ctx, core, caller, upload);
  } else {
    if (method === 'GET' && !upload) return getFile(ctx, core, caller, id);
    if (method === 'PATCH') return updateFile(ctx, core, caller, id, upload);
    if (method === 'DELETE' && !upload) return deleteFile(core, caller, id);
  }
  return driveError(405, 'Method Not Allowed', 'httpMethodNotAllowed');
}

function fieldsOf(ctx: RequestContext, fallback: FieldTree): FieldTree {
  const fields = ctx.url.searchParams.get('fields');
  if (fields === null || fields === '') return fallback;
  const tree = parseFields(fields);
  if (!tree) throw invalidParam('fields', `Invalid field selection ${fields}`);
  return tree;
}

function visible(file: DriveFile, caller: DriveCaller): boolean {
  return caller.seesEverything || file.createdByClientId === caller.clientId;
}

function findVisible(core: StandInCore, caller: DriveCaller, id: string): DriveFile {
  const file = core.drive.get(caller.email, id);
  if (!file || !visible(file, caller)) throw notFound(id);
  return file;
}

function resolveParents(core: StandInCore, caller: DriveCaller, parents: unknown): string[] {
  if (parents === undefined) return [];
  if (!Array.isArray(parents) || !parents.every((p) => typeof p === 'string')) {
    throw invalidParam('parents');
  }
  const rootId = core.drive.rootId(caller.email);
  return parents.map((p: string) => {
    if (p === 'root' || p === rootId) return rootId;
    const parent = findVisible(core, caller, p);
    if (parent.mimeType !== FOLDER_MIME_TYPE)
      throw invalidParam('parents', 'The parent is not a folder.');
    return parent.id;
  });
}

function listFiles(ctx: RequestContext, core: StandInCore, caller: DriveCaller): Reply {
  requireScope(caller, false);
  const params = ctx.url.searchParams;
  const q = params.get('q');
  const terms = q ? parseDriveQuery(q) : [];
  if (!terms) throw invalidParam('q');
  const pageSize = params.has('pageSize') ? Number(params.get('pageSize')) : 100;
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000)
    throw invalidParam('pageSize');
  const pageToken = params.get('pageToken');
  const offset = pageToken ? decodePageToken(pageToken) : 0;
  if (offset === null) throw invalidParam('pageToken');
  const rootId = core.drive.rootId(caller.email);
  const resolveId = (id: string): string => (id === 'root' ? rootId : id);
  const matching = core.drive
    .all(caller.email)
    .filter((f) => visible(f, caller) && matchesQuery(f, terms, resolveId));
  const page = matching.slice(offset, offset + pageSize);
  const body: Record<string, unknown> = { kind: 'drive#fileList', incompleteSearch: false };
  if (offset + pageSize < matching.length)
    body['nextPageToken'] = encodePageToken(offset + pageSize);
  body['files'] = page.map(fileResource);
  return jsonReply(200, project(body, fieldsOf(ctx, DEFAULT_LIST_FIELDS)));
}

interface Metadata {
  name?: unknown;
  mimeType?: unknown;
  parents?: unknown;
  trashed?: unknown;
}

function parseMetadata(raw: Buffer): Metadata {
  if (raw.length === 0) return {};
  try {
    const value: unknown = JSON.parse(raw.toString('utf8'));
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value;
  } catch {
    // fall through
  }
  throw new DriveError(driveError(400, 'Invalid JSON payload received.', 'parseError'));
}

/** Metadata and media of a request, by uploadType (metadata only when not an upload). */
function readUpload(
  ctx: RequestContext,
  upload: boolean,
): { metadata: Metadata; media: { contentType: string; body: Buffer } | undefined } {
  if (!upload) return { metadata: parseMetadata(ctx.body), media: undefined };
  const uploadType = ctx.url.searchParams.get('uploadType');
  if (uploadType === 'media') {
    return {
      metadata: {},
      media: { contentType: contentType(ctx) || 'application/octet-stream', body: ctx.body },
    };
  }
  if (uploadType === 'multipart') {
    const boundary = boundaryOf(ctx.headers['content-type'] ?? '');
    const parts = boundary ? parseMultipart(ctx.body, boundary) : null;
    const [meta, media] = parts ?? [];
    if (!meta || !media || parts?.length !== 2) {
      throw new DriveError(driveError(400, 'Malformed multipart body.', 'badContent'));
    }
    return { metadata: parseMetadata(meta.body), media };
  }
  throw invalidParam('uploadType', `Invalid upload type: ${uploadType ?? ''}`);
}

function optionalString(value: unknown, field: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalidParam(field);
  return value;
}

function createFile(
  ctx: RequestContext,
  core: StandInCore,
  caller: DriveCaller,
  upload: boolean,
): Reply {
  requireScope(caller, true);
  const { metadata, media } = readUpload(ctx, upload);
  const file = core.drive.create(caller.email, {
    name: optionalString(metadata.name, 'name') ?? 'Untitled',
    mimeType:
      optionalString(metadata.mimeType, 'mimeType') ??
      media?.contentType ??
      'application/octet-stream',
    parents: resolveParents(core, caller, metadata.parents),
    content: media?.body ?? Buffer.alloc(0),
    clientId: caller.clientId,
  });
  return jsonReply(200, project(fileResource(file), fieldsOf(ctx, DEFAULT_FILE_FIELDS)));
}

function getFile(ctx: RequestContext, core: StandInCore, caller: DriveCaller, id: string): Reply {
  requireScope(caller, false);
  const file = findVisible(core, caller, id);
  if (ctx.url.searchParams.get('alt') === 'media') {
    if (file.mimeType === FOLDER_MIME_TYPE) {
      return driveError(
        403,
        'Only files with binary content can be downloaded.',
        'fileNotDownloadable',
      );
    }
    return { status: 200, headers: { 'content-type': file.mimeType }, body: file.content };
  }
  return jsonReply(200, project(fileResource(file), fieldsOf(ctx, DEFAULT_FILE_FIELDS)));
}

function updateFile(
  ctx: RequestContext,
  core: StandInCore,
  caller: DriveCaller,
  id: string,
  upload: boolean,
): Reply {
  requireScope(caller, true);
  const file = findVisible(core, caller, id);
  const { metadata, media } = readUpload(ctx, upload);
  const name = optionalString(metadata.name, 'name');
  if (name !== undefined) file.name = name;
  const mimeType = optionalString(metadata.mimeType, 'mimeType');
  if (mimeType !== undefined) file.mimeType = mimeType;
  if (metadata.trashed !== undefined) {
    if (typeof metadata.trashed !== 'boolean') throw invalidParam('trashed');
    file.trashed = metadata.trashed;
  }
  const params = ctx.url.searchParams;
  const add = resolveParents(core, caller, splitIds(params.get('addParents')));
  const remove = new Set(splitIds(params.get('removeParents')));
  file.parents = [
    ...file.parents.filter((p) => !remove.has(p)),
    ...add.filter((p) => !file.parents.includes(p)),
  ];
  if (media) file.content = media.body;
  core.drive.touch(file);
  return jsonReply(200, project(fileResource(file), fieldsOf(ctx, DEFAULT_FILE_FIELDS)));
}

function deleteFile(core: StandInCore, caller: DriveCaller, id: string): Reply {
  requireScope(caller, true);
  findVisible(core, caller, id);
  core.drive.delete(caller.email, id);
  return { status: 204, headers: {}, body: '' };
}

const splitIds = (value: string | null): string[] =>
  value
    ? value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : [];

const encodePageToken = (offset: number): string =>
  Buffer.from(`offset:${offset}`).toString('base64url');

function decodePageToken(token: string): number | null {
  const match = /^offset:(\d+)$/.exec(Buffer.from(token, 'base64url').toString('utf8'));
  return match?.[1] ? Number(match[1]) : null;
}

// Minimal Drive v3 under /drive/v3/ and /upload/drive/v3/, enough for @googleapis/drive with
// `rootUrl`: files.list / create / get / update / delete, with Google's error shapes.
// https://developers.google.com/workspace/drive/api/guides/api-specific-auth
import { accessTokenOf } from './apis.ts';
import type { StandInCore } from './core.ts';
import { FOLDER_MIME_TYPE, fileResource, isGoogleAppsType, type DriveFile } from './drive-store.ts';
import {
  compareFiles,
  matchesQuery,
  parseDriveQuery,
  parseFields,
  parseOrderBy,
  project,
  type FieldTree,
} from './drive-query.ts';
import { contentType, jsonReply, type Reply, type RequestContext } from './http.ts';
import {
  legacyError as driveError,
  legacyInsufficientScope,
  legacyUnauthenticated,
} from './legacy-errors.ts';
import { boundaryOf, parseMultipart } from './multipart.ts';
import type { AccessTokenRecord } from './oauth-store.ts';
import { DRIVE, DRIVE_FILE, DRIVE_METADATA_READONLY, DRIVE_READONLY } from './scopes.ts';

export const DRIVE_PREFIX = '/drive/v3/';
export const UPLOAD_PREFIX = '/upload/drive/v3/';

const DEFAULT_FILE_FIELDS = parseFields('kind,id,name,mimeType') as FieldTree;
const DEFAULT_LIST_FIELDS = parseFields(
  'kind,incompleteSearch,nextPageToken,files(kind,id,name,mimeType)',
) as FieldTree;

interface DriveCaller {
  email: string;
  clientId: string;
  /** drive, drive.readonly or drive.metadata.readonly: metadata of every file of the user. */
  allMetadata: boolean;
  /** drive or drive.readonly: content of every file. */
  allContent: boolean;
  /** drive: changes every file. */
  writesAll: boolean;
  /** drive.file: reads and changes the files this client created, and creates files. */
  ownFiles: boolean;
}

/** What a request does to files; each needs its own scopes. */
type Access = 'metadata' | 'content' | 'write';

/** Scopes that allow each kind of access, for the insufficient-scope challenge. */
const SCOPES_FOR: Record<Access, readonly string[]> = {
  metadata: [DRIVE, DRIVE_FILE, DRIVE_READONLY, DRIVE_METADATA_READONLY],
  content: [DRIVE, DRIVE_FILE, DRIVE_READONLY],
  write: [DRIVE, DRIVE_FILE],
};

class DriveError extends Error {
  readonly reply: Reply;
  constructor(reply: Reply) {
    super('drive error');
    this.reply = reply;
  }
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
  const token = accessTokenOf(ctx);
  const record = token ? core.oauth.findAccessToken(token) : undefined;
  if (!record) throw new DriveError(legacyUnauthenticated());
  return callerFrom(record);
}

function callerFrom(record: AccessTokenRecord): DriveCaller {
  const scopes = new Set(record.scopes);
  const full = scopes.has(DRIVE);
  const readAll = full || scopes.has(DRIVE_READONLY);
  return {
    email: record.grant.email,
    clientId: record.grant.clientId,
    allMetadata: readAll || scopes.has(DRIVE_METADATA_READONLY),
    allContent: readAll,
    writesAll: full,
    ownFiles: scopes.has(DRIVE_FILE),
  };
}

/** The token's scopes allow this kind of access to some file (checked before any lookup). */
function requireScope(caller: DriveCaller, access: Access): void {
  const allowed =
    caller.ownFiles ||
    (access === 'metadata'
      ? caller.allMetadata
      : access === 'content'
        ? caller.allContent
        : caller.writesAll);
  if (!allowed) throw new DriveError(legacyInsufficientScope(SCOPES_FOR[access]));
}

/**
 * Content or write access to one visible file. A drive.file client that sees another file's
 * metadata through drive.metadata.readonly gets Drive's appNotAuthorizedToFile for it.
 */
function requireFileAccess(
  caller: DriveCaller,
  file: DriveFile,
  access: 'content' | 'write',
): void {
  const broad = access === 'content' ? caller.allContent : caller.writesAll;
  if (broad || (caller.ownFiles && file.createdByClientId === caller.clientId)) return;
  // Google names the Cloud project number; a client id starts with it ("123-abc.apps…").
  const appId = caller.clientId.split('-')[0] ?? caller.clientId;
  const verb = access === 'content' ? 'read' : 'write';
  throw new DriveError(
    driveError(
      403,
      `The user has not granted the app ${appId} ${verb} access to the file ${file.id}.`,
      'appNotAuthorizedToFile',
      { location: 'fileId', locationType: 'parameter' },
    ),
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
  return caller.allMetadata || (caller.ownFiles && file.createdByClientId === caller.clientId);
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
  requireScope(caller, 'metadata');
  const params = ctx.url.searchParams;
  const q = params.get('q');
  const terms = q ? parseDriveQuery(q) : [];
  if (!terms) throw invalidParam('q');
  const orderBy = params.get('orderBy');
  const order = orderBy ? parseOrderBy(orderBy) : [];
  if (!order) throw invalidParam('orderBy');
  const pageSize = params.has('pageSize') ? Number(params.get('pageSize')) : 100;
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000)
    throw invalidParam('pageSize');
  const pageToken = params.get('pageToken');
  const offset = pageToken ? decodePageToken(pageToken) : 0;
  if (offset === null) throw invalidParam('pageToken');
  const rootId = core.drive.rootId(caller.email);
  const resolveId = (id: string): string => (id === 'root' ? rootId : id);
  // Without orderBy, creation order; Array#sort is stable, so ties keep it too.
  const matching = core.drive
    .all(caller.email)
    .filter((f) => visible(f, caller) && matchesQuery(f, terms, resolveId))
    .sort((a, b) => compareFiles(a, b, order));
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
  requireScope(caller, 'write');
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
  const media = ctx.url.searchParams.get('alt') === 'media';
  requireScope(caller, media ? 'content' : 'metadata');
  const file = findVisible(core, caller, id);
  if (media) {
    requireFileAccess(caller, file, 'content');
    if (isGoogleAppsType(file.mimeType)) {
      return driveError(
        403,
        'Only files with binary content can be downloaded. Use Export with Docs Editors files.',
        'fileNotDownloadable',
        { location: 'alt', locationType: 'parameter' },
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
  requireScope(caller, 'write');
  const file = findVisible(core, caller, id);
  requireFileAccess(caller, file, 'write');
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
  requireScope(caller, 'write');
  requireFileAccess(caller, findVisible(core, caller, id), 'write');
  core.drive.delete(caller.email, id);
  core.sheets.delete(id);
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

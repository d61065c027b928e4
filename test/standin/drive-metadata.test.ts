// Drive files.list / get over the user's own files (seeded, not app-created), by scope:
// drive.metadata.readonly sees metadata only, drive.readonly content too, drive.file neither.
import { drive, type drive_v3 } from '@googleapis/drive';
import { OAuth2Client } from 'google-auth-library';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { GoogleStandIn } from './index.ts';
import { signIn, startTestStandIn, str } from './test-helpers.ts';

const AUTH = 'https://www.googleapis.com/auth/';
const METADATA = `${AUTH}drive.metadata.readonly`;
const USER = 'user@example.com';

let standIn: GoogleStandIn;
beforeAll(async () => {
  standIn = await startTestStandIn();
});
afterAll(() => standIn.close());
beforeEach(() => standIn.control.reset());

async function driveFor(scope: string): Promise<drive_v3.Drive> {
  const body = await signIn(standIn, { scope: `openid email ${scope}` });
  const auth = new OAuth2Client();
  auth.setCredentials({ access_token: str(body['access_token']), expiry_date: Date.now() + 3e6 });
  return drive({ version: 'v3', rootUrl: standIn.endpoints.apiRoot, auth });
}

interface LegacyError {
  code: number;
  message: string;
  status?: string;
  errors: Array<{ reason: string; location?: string }>;
}

async function failure(
  promise: Promise<unknown>,
): Promise<{ status: number; error: LegacyError; wwwAuthenticate: string | null }> {
  const err = await promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) =>
      e as { response?: { status: number; data: { error: LegacyError }; headers: Headers } },
  );
  return {
    status: err.response?.status ?? 0,
    error: err.response?.data.error ?? ({} as LegacyError),
    wwwAuthenticate: err.response?.headers.get('www-authenticate') ?? null,
  };
}

/** Twelve files modified on days 1..12 of January, seeded in a shuffled order. */
function seedTwelve(): Map<string, string> {
  const days = [5, 12, 1, 9, 3, 11, 7, 2, 10, 4, 8, 6];
  const { ids } = standIn.control.seedDriveFiles({
    email: USER,
    files: days.map((d) => ({
      name: `day-${d}.txt`,
      mimeType: 'text/plain',
      modifiedTime: `2025-01-${String(d).padStart(2, '0')}T10:00:00.000Z`,
      content: `content of day ${d}`,
    })),
  });
  return new Map(ids.map((id, i) => [`day-${days[i]}.txt`, id]));
}

describe('files.list with drive.metadata.readonly over the user’s own files', () => {
  it('lists the 10 most recently modified files, then the rest on the next page', async () => {
    const ids = seedTwelve();
    const api = await driveFor(METADATA);
    const first = await api.files.list({
      pageSize: 10,
      orderBy: 'modifiedTime desc',
      fields: 'nextPageToken, files(id, name, modifiedTime)',
    });
    const names = (first.data.files ?? []).map((f) => f.name);
    expect(names).toEqual([12, 11, 10, 9, 8, 7, 6, 5, 4, 3].map((d) => `day-${d}.txt`));
    expect(first.data.files?.[0]).toEqual({
      id: ids.get('day-12.txt'),
      name: 'day-12.txt',
      modifiedTime: '2025-01-12T10:00:00.000Z',
    });
    const pageToken = str(first.data.nextPageToken);
    const second = await api.files.list({
      pageSize: 10,
      pageToken,
      orderBy: 'modifiedTime desc',
      fields: 'nextPageToken, files(name)',
    });
    expect(second.data).toEqual({ files: [{ name: 'day-2.txt' }, { name: 'day-1.txt' }] });
  });

  it('serves the installed-app quickstart call as is', async () => {
    seedTwelve();
    const api = await driveFor(METADATA);
    const answer = await api.files.list({ pageSize: 10, fields: 'nextPageToken, files(id, name)' });
    expect(answer.data.files).toHaveLength(10);
    expect(Object.keys(answer.data.files?.[0] ?? {})).toEqual(['id', 'name']);
    expect(answer.data.nextPageToken).toEqual(expect.any(String));
  });

  it('orderBy name and folder; an unknown key is a 400 on orderBy', async () => {
    standIn.control.seedDriveFiles({
      email: USER,
      files: [
        { name: 'b.txt' },
        { name: 'Folder', mimeType: 'application/vnd.google-apps.folder' },
        { name: 'a.txt' },
      ],
    });
    const api = await driveFor(METADATA);
    const byName = await api.files.list({ orderBy: 'folder,name', fields: 'files(name)' });
    expect(byName.data.files?.map((f) => f.name)).toEqual(['Folder', 'a.txt', 'b.txt']);
    const bad = await failure(api.files.list({ orderBy: 'size desc' }));
    expect(bad.status).toBe(400);
    expect(bad.error.errors[0]).toMatchObject({ reason: 'invalid', location: 'orderBy' });
  });

  it('gets metadata, but a download or a change is a 403 insufficientPermissions', async () => {
    const ids = seedTwelve();
    const fileId = str(ids.get('day-1.txt'));
    const api = await driveFor(METADATA);
    const meta = await api.files.get({ fileId, fields: 'id,name,mimeType,size' });
    expect(meta.data).toEqual({
      id: fileId,
      name: 'day-1.txt',
      mimeType: 'text/plain',
      size: String('content of day 1'.length),
    });
    const download = await failure(api.files.get({ fileId, alt: 'media' }));
    expect(download.status).toBe(403);
    expect(download.error).toMatchObject({ code: 403, status: 'PERMISSION_DENIED' });
    expect(download.error.errors[0]?.reason).toBe('insufficientPermissions');
    expect(download.wwwAuthenticate).toMatch(
      /error="insufficient_scope", scope="[^"]*drive\.readonly/,
    );
    const rename = await failure(api.files.update({ fileId, requestBody: { name: 'x' } }));
    expect(rename.error.errors[0]?.reason).toBe('insufficientPermissions');
    const create = await failure(api.files.create({ requestBody: { name: 'new' } }));
    expect(create.status).toBe(403);
    const remove = await failure(api.files.delete({ fileId }));
    expect(remove.status).toBe(403);
    expect(standIn.control.driveFiles(USER)).toHaveLength(12);
  });
});

describe('the other Drive scopes over the user’s own files', () => {
  it('drive.readonly downloads them', async () => {
    const ids = seedTwelve();
    const api = await driveFor(`${AUTH}drive.readonly`);
    const content = await api.files.get(
      { fileId: str(ids.get('day-7.txt')), alt: 'media' },
      { responseType: 'text' },
    );
    expect(content.data).toBe('content of day 7');
  });

  it('drive.file does not see them', async () => {
    seedTwelve();
    const api = await driveFor(`${AUTH}drive.file`);
    expect((await api.files.list({})).data.files).toEqual([]);
  });

  it('drive.file with drive.metadata.readonly lists them but may not read or change them', async () => {
    const ids = seedTwelve();
    const fileId = str(ids.get('day-3.txt'));
    const api = await driveFor(`${AUTH}drive.file ${METADATA}`);
    expect((await api.files.list({})).data.files).toHaveLength(12);
    const download = await failure(api.files.get({ fileId, alt: 'media' }));
    expect(download.status).toBe(403);
    expect(download.error.errors[0]).toMatchObject({
      reason: 'appNotAuthorizedToFile',
      location: 'fileId',
    });
    expect(download.error.message).toBe(
      `The user has not granted the app 123 read access to the file ${fileId}.`,
    );
    const rename = await failure(api.files.update({ fileId, requestBody: { name: 'x' } }));
    expect(rename.error.errors[0]?.reason).toBe('appNotAuthorizedToFile');
  });

  it('a Docs Editors file is not downloadable', async () => {
    const { spreadsheetId } = standIn.control.seedSpreadsheet({
      email: USER,
      title: 'Sheet',
      sheets: { Sheet1: [['a']] },
    });
    const api = await driveFor(`${AUTH}drive.readonly`);
    const { status, error } = await failure(api.files.get({ fileId: spreadsheetId, alt: 'media' }));
    expect(status).toBe(403);
    expect(error.errors[0]?.reason).toBe('fileNotDownloadable');
  });
});

describe('seeding Drive files', () => {
  it('POST /__control/drive/seed seeds over HTTP and refuses a bad modifiedTime', async () => {
    const post = (body: unknown): Promise<Response> =>
      fetch(`${standIn.url}/__control/drive/seed`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const res = await post({
      email: USER,
      files: [{ name: 'n.txt', mimeType: 'text/plain', modifiedTime: '2024-06-01T00:00:00Z' }],
    });
    expect(res.status).toBe(200);
    const { ids } = (await res.json()) as { ids: string[] };
    expect(standIn.control.driveFiles(USER)).toEqual([
      expect.objectContaining({
        id: ids[0],
        name: 'n.txt',
        modifiedTime: '2024-06-01T00:00:00.000Z',
        createdByClientId: null,
      }),
    ]);
    expect((await post({ email: USER, files: [{ name: 'x', modifiedTime: 'soon' }] })).status).toBe(
      400,
    );
    expect(standIn.control.driveFiles(USER)).toHaveLength(1);
  });
});

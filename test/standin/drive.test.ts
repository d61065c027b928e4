// Drive v3 driven by the real @googleapis/drive client with rootUrl = endpoints.apiRoot.
import { drive, type drive_v3 } from '@googleapis/drive';
import { OAuth2Client } from 'google-auth-library';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { GoogleStandIn } from './index.ts';
import { DRIVE_FILE_SCOPE, OTHER_CLIENT, signIn, startTestStandIn, str } from './test-helpers.ts';

const FOLDER = 'application/vnd.google-apps.folder';

let standIn: GoogleStandIn;
beforeAll(async () => {
  standIn = await startTestStandIn();
});
afterAll(() => standIn.close());
beforeEach(() => standIn.control.reset());

/**
 * googleapis-common applies the client-level `rootUrl` to `url` but NOT to `mediaUrl`, so media
 * uploads (uploadType=multipart|media) must also pass `rootUrl` in the per-call options.
 */
function media(): { rootUrl: string } {
  return { rootUrl: standIn.endpoints.apiRoot };
}

function driveFor(accessToken: string): drive_v3.Drive {
  const auth = new OAuth2Client();
  auth.setCredentials({ access_token: accessToken, expiry_date: Date.now() + 3_000_000 });
  return drive({ version: 'v3', rootUrl: standIn.endpoints.apiRoot, auth });
}

async function tokenFor(overrides: Record<string, string> = {}): Promise<string> {
  return str((await signIn(standIn, overrides))['access_token']);
}

interface GoogleApiError {
  code: number;
  message: string;
  status?: string;
  errors: Array<{ reason: string }>;
}

async function apiError(
  promise: Promise<unknown>,
): Promise<{ status: number; error: GoogleApiError }> {
  const err = await promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) =>
      e as { status?: number; response?: { status: number; data: { error: GoogleApiError } } },
  );
  return {
    status: err.response?.status ?? 0,
    error: err.response?.data.error ?? ({} as GoogleApiError),
  };
}

describe('Drive v3 through @googleapis/drive', () => {
  it('creates a folder, uploads multipart, updates media, lists and downloads', async () => {
    const api = driveFor(await tokenFor());
    const folder = await api.files.create({
      requestBody: { name: 'Exports', mimeType: FOLDER },
      fields: 'id, name, mimeType',
    });
    const folderId = str(folder.data.id);
    expect(folder.data).toEqual({ id: folderId, name: 'Exports', mimeType: FOLDER });

    const file = await api.files.create(
      {
        requestBody: { name: 'report.csv', parents: [folderId], mimeType: 'text/csv' },
        media: { mimeType: 'text/csv', body: 'a,b\n1,2\n' },
        fields: 'id,name,parents,size',
      },
      media(),
    );
    const fileId = str(file.data.id);
    expect(file.data.parents).toEqual([folderId]);
    expect(file.data.size).toBe('8');

    const updated = await api.files.update(
      { fileId, media: { mimeType: 'text/csv', body: 'a,b\n3,4\n5,6\n' } },
      media(),
    );
    expect(updated.data.id).toBe(fileId);
    expect(updated.data.kind).toBe('drive#file');

    const listed = await api.files.list({
      q: `name = 'report.csv' and '${folderId}' in parents and trashed = false`,
      fields: 'files(id, name), nextPageToken',
    });
    expect(listed.data.files).toEqual([{ id: fileId, name: 'report.csv' }]);
    expect(listed.data.nextPageToken).toBeUndefined();

    const folders = await api.files.list({ q: `mimeType = '${FOLDER}' and name = 'Exports'` });
    expect(folders.data.files?.map((f) => f.id)).toEqual([folderId]);

    const content = await api.files.get({ fileId, alt: 'media' }, { responseType: 'text' });
    expect(content.data).toBe('a,b\n3,4\n5,6\n');

    const snapshot = standIn.control.driveFiles('user@example.com');
    expect(snapshot.find((f) => f.id === fileId)).toMatchObject({
      path: '/Exports/report.csv',
      content: 'a,b\n3,4\n5,6\n',
      mimeType: 'text/csv',
    });
  });

  it('pages with pageSize and pageToken', async () => {
    const api = driveFor(await tokenFor());
    for (let i = 0; i < 5; i += 1)
      await api.files.create({ requestBody: { name: `f${i}`, mimeType: FOLDER } });
    const names: string[] = [];
    let pageToken: string | undefined;
    let pages = 0;
    do {
      const page = await api.files.list({
        pageSize: 2,
        ...(pageToken ? { pageToken } : {}),
        fields: 'nextPageToken, files(name)',
      });
      names.push(...(page.data.files ?? []).map((f) => str(f.name)));
      pageToken = page.data.nextPageToken ?? undefined;
      pages += 1;
    } while (pageToken);
    expect(pages).toBe(3);
    expect(names).toEqual(['f0', 'f1', 'f2', 'f3', 'f4']);
  });

  it('with drive.file a client sees only the files it created', async () => {
    const mine = driveFor(await tokenFor());
    const theirs = driveFor(await tokenFor({ client_id: OTHER_CLIENT.clientId }));
    const created = await mine.files.create(
      { requestBody: { name: 'mine.txt' }, media: { mimeType: 'text/plain', body: 'x' } },
      media(),
    );
    expect((await theirs.files.list({})).data.files).toEqual([]);
    const { status, error } = await apiError(theirs.files.get({ fileId: str(created.data.id) }));
    expect(status).toBe(404);
    expect(error.errors[0]?.reason).toBe('notFound');
    expect((await mine.files.list({})).data.files).toHaveLength(1);
  });

  it('keeps each user’s files apart', async () => {
    const alice = driveFor(await tokenFor({ standin_user: 'alice@example.com' }));
    const bob = driveFor(await tokenFor({ standin_user: 'bob@example.com' }));
    await alice.files.create(
      { requestBody: { name: 'a.txt' }, media: { mimeType: 'text/plain', body: 'a' } },
      media(),
    );
    expect((await bob.files.list({})).data.files).toEqual([]);
    expect(standIn.control.driveFiles('alice@example.com')).toHaveLength(1);
    expect(standIn.control.driveFiles('bob@example.com')).toHaveLength(0);
  });

  it('401 UNAUTHENTICATED authError for an unknown or expired access token', async () => {
    const token = await tokenFor();
    const unknown = await apiError(driveFor('ya29.nope').files.list({}));
    expect(unknown.status).toBe(401);
    expect(unknown.error).toMatchObject({ code: 401, status: 'UNAUTHENTICATED' });
    expect(unknown.error.message).toMatch(/^Request had invalid authentication credentials/);
    expect(unknown.error.errors[0]?.reason).toBe('authError');
    standIn.control.advanceClock(3600_000);
    expect((await apiError(driveFor(token).files.list({}))).status).toBe(401);
  });

  it('403 insufficientPermissions / PERMISSION_DENIED without a Drive scope', async () => {
    const api = driveFor(await tokenFor({ scope: 'openid email' }));
    const { status, error } = await apiError(api.files.list({}));
    expect(status).toBe(403);
    expect(error.status).toBe('PERMISSION_DENIED');
    expect(error.errors[0]?.reason).toBe('insufficientPermissions');
  });

  it('403 when the user unticked drive.file on the consent page', async () => {
    const api = driveFor(await tokenFor({ standin_grant: '' }));
    expect(
      (await apiError(api.files.create({ requestBody: { name: 'x', mimeType: FOLDER } }))).status,
    ).toBe(403);
  });

  it('the full drive scope sees files of every client', async () => {
    const fileOnly = driveFor(await tokenFor());
    await fileOnly.files.create(
      { requestBody: { name: 'by-app.txt' }, media: { mimeType: 'text/plain', body: '1' } },
      media(),
    );
    const full = driveFor(
      await tokenFor({
        client_id: OTHER_CLIENT.clientId,
        scope: 'https://www.googleapis.com/auth/drive',
      }),
    );
    expect((await full.files.list({})).data.files?.map((f) => f.name)).toEqual(['by-app.txt']);
  });

  it('400 for an unsupported query, 404 for an unknown parent', async () => {
    const api = driveFor(await tokenFor());
    expect((await apiError(api.files.list({ q: "modifiedTime > '2020-01-01'" }))).status).toBe(400);
    const missing = await apiError(
      api.files.create({ requestBody: { name: 'x', parents: ['1doesnotexist'] } }),
    );
    expect(missing.status).toBe(404);
  });

  it('drive.file scope is accepted alongside others', async () => {
    const api = driveFor(await tokenFor({ scope: `openid email profile ${DRIVE_FILE_SCOPE}` }));
    expect((await api.files.list({})).status).toBe(200);
  });

  it('regression: the client-level rootUrl alone does not redirect media uploads (googleapis-common)', async () => {
    const api = driveFor(await tokenFor());
    let requested = '';
    await api.files
      .create(
        { requestBody: { name: 'x' }, media: { mimeType: 'text/plain', body: 'x' } },
        {
          adapter: (options) => {
            requested = String(options.url);
            return Promise.reject(new Error('not sent'));
          },
        },
      )
      .catch(() => undefined);
    expect(requested).toMatch(/^https:\/\/www\.googleapis\.com\/upload\/drive\/v3\/files/);
  });
});

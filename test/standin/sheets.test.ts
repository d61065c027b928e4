// Sheets v4 values.get driven by the real @googleapis/sheets client with rootUrl = apiRoot.
import { drive } from '@googleapis/drive';
import { sheets, type sheets_v4 } from '@googleapis/sheets';
import { OAuth2Client } from 'google-auth-library';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { GoogleStandIn } from './index.ts';
import { OTHER_CLIENT, signIn, startTestStandIn, str } from './test-helpers.ts';

const AUTH = 'https://www.googleapis.com/auth/';
const SPREADSHEET = 'application/vnd.google-apps.spreadsheet';

let standIn: GoogleStandIn;
beforeAll(async () => {
  standIn = await startTestStandIn();
});
afterAll(() => standIn.close());
beforeEach(() => standIn.control.reset());

function authFor(accessToken: string): OAuth2Client {
  const auth = new OAuth2Client();
  auth.setCredentials({ access_token: accessToken, expiry_date: Date.now() + 3_000_000 });
  return auth;
}

function sheetsFor(accessToken: string): sheets_v4.Sheets {
  return sheets({ version: 'v4', rootUrl: standIn.endpoints.apiRoot, auth: authFor(accessToken) });
}

/** An access token of user@example.com (or `user`) granted `scope` (sign-in scopes added). */
async function tokenFor(scope: string, overrides: Record<string, string> = {}): Promise<string> {
  const body = await signIn(standIn, { scope: `openid email ${scope}`, ...overrides });
  return str(body['access_token']);
}

const READONLY = `${AUTH}spreadsheets.readonly`;

interface RpcError {
  code: number;
  message: string;
  status: string;
  details?: Array<{ '@type': string; reason: string; domain: string; metadata: unknown }>;
}

/** The GaxiosError of a call that must fail: HTTP status, body and one header. */
async function failure(
  promise: Promise<unknown>,
): Promise<{ status: number; error: RpcError; wwwAuthenticate: string | null }> {
  const err = await promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) =>
      e as {
        status?: number;
        response?: { status: number; data: { error: RpcError }; headers: Headers };
      },
  );
  return {
    status: err.status ?? 0,
    error: err.response?.data.error ?? ({} as RpcError),
    wwwAuthenticate: err.response?.headers.get('www-authenticate') ?? null,
  };
}

function seedScores(email = 'user@example.com'): string {
  return standIn.control.seedSpreadsheet({
    email,
    title: 'Scores',
    sheets: {
      Sheet1: [['Name', 'Score', ''], ['Ann', '3'], [], ['Bob', '', '', ''], ['', ''], ['']],
      'My sheet': [['x', 'y']],
    },
  }).spreadsheetId;
}

describe('Sheets values.get through @googleapis/sheets', () => {
  it('returns the range, ROWS and formatted values, trailing empty cells and rows left out', async () => {
    const spreadsheetId = seedScores();
    expect(spreadsheetId).toMatch(/^[A-Za-z0-9_-]{44}$/);
    const api = sheetsFor(await tokenFor(READONLY));
    const answer = await api.spreadsheets.values.get({ spreadsheetId, range: 'Sheet1!A1:C10' });
    expect(answer.status).toBe(200);
    expect(answer.data).toEqual({
      range: 'Sheet1!A1:C10',
      majorDimension: 'ROWS',
      values: [['Name', 'Score'], ['Ann', '3'], [], ['Bob']],
    });
  });

  it('reads A1 forms: a bare sheet name, a quoted name, no sheet, columns', async () => {
    const spreadsheetId = seedScores();
    const api = sheetsFor(await tokenFor(READONLY));
    const get = async (range: string): Promise<sheets_v4.Schema$ValueRange> =>
      (await api.spreadsheets.values.get({ spreadsheetId, range })).data;
    expect(await get('Sheet1')).toMatchObject({ range: 'Sheet1!A1:Z1000' });
    expect(await get("'My sheet'!A:B")).toEqual({
      range: "'My sheet'!A1:B1000",
      majorDimension: 'ROWS',
      values: [['x', 'y']],
    });
    expect(await get('A2:B')).toMatchObject({
      range: 'Sheet1!A2:B1000',
      values: [['Ann', '3'], [], ['Bob']],
    });
    expect(await get('B1:B2')).toMatchObject({ values: [['Score'], ['3']] });
  });

  it('leaves values out when the range holds no value', async () => {
    const spreadsheetId = seedScores();
    const api = sheetsFor(await tokenFor(READONLY));
    const empty = await api.spreadsheets.values.get({ spreadsheetId, range: 'Sheet1!D1:F3' });
    expect(empty.data).toEqual({ range: 'Sheet1!D1:F3', majorDimension: 'ROWS' });
    expect('values' in empty.data).toBe(false);
  });

  it('accepts majorDimension and valueRenderOption; COLUMNS trims each column', async () => {
    const spreadsheetId = seedScores();
    const api = sheetsFor(await tokenFor(READONLY));
    const columns = await api.spreadsheets.values.get({
      spreadsheetId,
      range: 'Sheet1!A1:C4',
      majorDimension: 'COLUMNS',
      valueRenderOption: 'UNFORMATTED_VALUE',
      dateTimeRenderOption: 'FORMATTED_STRING',
    });
    expect(columns.data).toEqual({
      range: 'Sheet1!A1:C4',
      majorDimension: 'COLUMNS',
      values: [
        ['Name', 'Ann', '', 'Bob'],
        ['Score', '3'],
      ],
    });
    const bad = await failure(
      api.spreadsheets.values.get({ spreadsheetId, range: 'A1', majorDimension: 'DIAGONAL' }),
    );
    expect(bad.status).toBe(400);
    expect(bad.error.status).toBe('INVALID_ARGUMENT');
    expect(bad.error.message).toContain("'major_dimension'");
  });

  it('honours fields', async () => {
    const spreadsheetId = seedScores();
    const api = sheetsFor(await tokenFor(READONLY));
    const answer = await api.spreadsheets.values.get({
      spreadsheetId,
      range: 'Sheet1!A1:B1',
      fields: 'values',
    });
    expect(answer.data).toEqual({ values: [['Name', 'Score']] });
  });
});

describe('Sheets errors, in the google.rpc shape', () => {
  it('404 NOT_FOUND for an unknown spreadsheet', async () => {
    const api = sheetsFor(await tokenFor(READONLY));
    const { status, error } = await failure(
      api.spreadsheets.values.get({ spreadsheetId: '1nope', range: 'A1' }),
    );
    expect(status).toBe(404);
    expect(error).toEqual({
      code: 404,
      message: 'Requested entity was not found.',
      status: 'NOT_FOUND',
    });
  });

  it('403 PERMISSION_DENIED for a spreadsheet of another user', async () => {
    const spreadsheetId = seedScores('alice@example.com');
    const api = sheetsFor(await tokenFor(READONLY, { standin_user: 'bob@example.com' }));
    const { status, error } = await failure(
      api.spreadsheets.values.get({ spreadsheetId, range: 'A1' }),
    );
    expect(status).toBe(403);
    expect(error).toEqual({
      code: 403,
      message: 'The caller does not have permission',
      status: 'PERMISSION_DENIED',
    });
  });

  it('400 INVALID_ARGUMENT for a range that does not parse (unknown sheet included)', async () => {
    const spreadsheetId = seedScores();
    const api = sheetsFor(await tokenFor(READONLY));
    for (const range of ['Nosuch!A1', 'Sheet1!A1:B2:C3', "'My sheet"]) {
      const { status, error } = await failure(
        api.spreadsheets.values.get({ spreadsheetId, range }),
      );
      expect(status).toBe(400);
      expect(error).toEqual({
        code: 400,
        message: `Unable to parse range: ${range}`,
        status: 'INVALID_ARGUMENT',
      });
    }
    const beyond = await failure(api.spreadsheets.values.get({ spreadsheetId, range: 'A1:AA2' }));
    expect(beyond.error.message).toBe(
      "Range ('Sheet1'!A1:AA2) exceeds grid limits. Max rows: 1000, max columns: 26",
    );
  });

  it('403 ACCESS_TOKEN_SCOPE_INSUFFICIENT, with the insufficient_scope challenge, without a Sheets or Drive read scope', async () => {
    const spreadsheetId = seedScores();
    const api = sheetsFor(await tokenFor(`${AUTH}drive.metadata.readonly`));
    const { status, error, wwwAuthenticate } = await failure(
      api.spreadsheets.values.get({ spreadsheetId, range: 'A1' }),
    );
    expect(status).toBe(403);
    expect(error).toEqual({
      code: 403,
      message: 'Request had insufficient authentication scopes.',
      status: 'PERMISSION_DENIED',
      details: [
        {
          '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
          reason: 'ACCESS_TOKEN_SCOPE_INSUFFICIENT',
          domain: 'googleapis.com',
          metadata: {
            service: 'sheets.googleapis.com',
            method: 'google.apps.sheets.v4.SpreadsheetsService.GetValues',
          },
        },
      ],
    });
    expect(wwwAuthenticate).toMatch(
      /^Bearer realm="https:\/\/accounts\.google\.com\/", error="insufficient_scope", scope="[^"]*spreadsheets\.readonly[^"]*"$/,
    );
    // Checked before the lookup, as Google's front end does: an unknown id answers the same.
    const unknown = await failure(
      api.spreadsheets.values.get({ spreadsheetId: '1x', range: 'A1' }),
    );
    expect(unknown.error.details?.[0]?.reason).toBe('ACCESS_TOKEN_SCOPE_INSUFFICIENT');
  });

  it('401 UNAUTHENTICATED for an unknown or expired token', async () => {
    const spreadsheetId = seedScores();
    const token = await tokenFor(READONLY);
    const unknown = await failure(
      sheetsFor('ya29.nope').spreadsheets.values.get({ spreadsheetId, range: 'A1' }),
    );
    expect(unknown.status).toBe(401);
    expect(unknown.error.status).toBe('UNAUTHENTICATED');
    expect(unknown.error.message).toMatch(/^Request had invalid authentication credentials/);
    expect(unknown.wwwAuthenticate).toBe(
      'Bearer realm="https://accounts.google.com/", error="invalid_token"',
    );
    standIn.control.advanceClock(3600_000);
    const expired = await failure(
      sheetsFor(token).spreadsheets.values.get({ spreadsheetId, range: 'A1' }),
    );
    expect(expired.status).toBe(401);
  });

  it('400 for a query parameter values.get does not have', async () => {
    const spreadsheetId = seedScores();
    const res = await fetch(
      `${standIn.url}/v4/spreadsheets/${spreadsheetId}/values/A1?colour=blue`,
      { headers: { authorization: `Bearer ${await tokenFor(READONLY)}` } },
    );
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: RpcError };
    expect(body.error.status).toBe('INVALID_ARGUMENT');
    expect(body.error.message).toContain('Unknown name "colour"');
  });
});

describe('Sheets scope rules', () => {
  it.each(['spreadsheets', 'spreadsheets.readonly', 'drive', 'drive.readonly'])(
    '%s reads any spreadsheet of the user',
    async (scope) => {
      const spreadsheetId = seedScores();
      const api = sheetsFor(await tokenFor(`${AUTH}${scope}`));
      const answer = await api.spreadsheets.values.get({ spreadsheetId, range: 'A1' });
      expect(answer.data.values).toEqual([['Name']]);
    },
  );

  it('drive.file reads only spreadsheets its client created, like Google', async () => {
    const seeded = seedScores();
    const token = await tokenFor(`${AUTH}drive.file`);
    const denied = await failure(
      sheetsFor(token).spreadsheets.values.get({ spreadsheetId: seeded, range: 'A1' }),
    );
    expect(denied.status).toBe(403);
    expect(denied.error).toEqual({
      code: 403,
      message: 'The caller does not have permission',
      status: 'PERMISSION_DENIED',
    });

    // A spreadsheet the app created through Drive: one empty Sheet1 of 1000 × 26.
    const driveApi = drive({
      version: 'v3',
      rootUrl: standIn.endpoints.apiRoot,
      auth: authFor(token),
    });
    const created = await driveApi.files.create({
      requestBody: { name: 'Export', mimeType: SPREADSHEET },
    });
    const answer = await sheetsFor(token).spreadsheets.values.get({
      spreadsheetId: str(created.data.id),
      range: 'Sheet1',
    });
    expect(answer.data).toEqual({ range: 'Sheet1!A1:Z1000', majorDimension: 'ROWS' });

    // Another client with drive.file does not reach it.
    const other = await tokenFor(`${AUTH}drive.file`, { client_id: OTHER_CLIENT.clientId });
    const otherAnswer = await failure(
      sheetsFor(other).spreadsheets.values.get({
        spreadsheetId: str(created.data.id),
        range: 'A1',
      }),
    );
    expect(otherAnswer.status).toBe(403);
  });

  it('a Drive file that is not a spreadsheet answers FAILED_PRECONDITION', async () => {
    const {
      ids: [csv],
    } = standIn.control.seedDriveFiles({
      email: 'user@example.com',
      files: [{ name: 'a.csv', mimeType: 'text/csv', content: 'a,b' }],
    });
    const api = sheetsFor(await tokenFor(READONLY));
    const { status, error } = await failure(
      api.spreadsheets.values.get({ spreadsheetId: str(csv), range: 'A1' }),
    );
    expect(status).toBe(400);
    expect(error.status).toBe('FAILED_PRECONDITION');
  });
});

describe('Seeding spreadsheets', () => {
  it('a seeded spreadsheet is a Drive file of its owner; deleting it through Drive removes it', async () => {
    const spreadsheetId = seedScores();
    expect(standIn.control.driveFiles('user@example.com')).toEqual([
      expect.objectContaining({
        id: spreadsheetId,
        name: 'Scores',
        mimeType: SPREADSHEET,
        createdByClientId: null,
      }),
    ]);
    const token = await tokenFor(`${AUTH}drive`);
    const driveApi = drive({
      version: 'v3',
      rootUrl: standIn.endpoints.apiRoot,
      auth: authFor(token),
    });
    const listed = await driveApi.files.list({
      q: `mimeType = '${SPREADSHEET}'`,
      fields: 'files(id,name,size)',
    });
    expect(listed.data.files).toEqual([{ id: spreadsheetId, name: 'Scores' }]);
    await driveApi.files.delete({ fileId: spreadsheetId });
    const gone = await failure(
      sheetsFor(token).spreadsheets.values.get({ spreadsheetId, range: 'A1' }),
    );
    expect(gone.status).toBe(404);
  });

  it('takes a chosen id once, and refuses bad sheets without storing anything', () => {
    const id = 'seeded-sheet-1';
    expect(
      standIn.control.seedSpreadsheet({
        email: 'u@example.com',
        title: 't',
        sheets: { S: [] },
        id,
      }),
    ).toEqual({ spreadsheetId: id });
    expect(() =>
      standIn.control.seedSpreadsheet({
        email: 'u@example.com',
        title: 't',
        sheets: { S: [] },
        id,
      }),
    ).toThrow(RangeError);
    expect(() =>
      standIn.control.seedSpreadsheet({ email: 'u@example.com', title: 't', sheets: {} }),
    ).toThrow(RangeError);
    expect(() =>
      standIn.control.seedSpreadsheet({
        email: 'u@example.com',
        title: 't',
        sheets: { a: [], A: [] },
      }),
    ).toThrow(RangeError);
    expect(standIn.control.driveFiles('u@example.com')).toHaveLength(1);
  });

  it('POST /__control/sheets seeds over HTTP', async () => {
    const res = await fetch(`${standIn.url}/__control/sheets`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        email: 'user@example.com',
        title: 'Over HTTP',
        sheets: { Data: [['1', '2']] },
      }),
    });
    expect(res.status).toBe(200);
    const { spreadsheetId } = (await res.json()) as { spreadsheetId: string };
    const api = sheetsFor(await tokenFor(READONLY));
    const answer = await api.spreadsheets.values.get({ spreadsheetId, range: 'Data' });
    expect(answer.data.values).toEqual([['1', '2']]);
    const bad = await fetch(`${standIn.url}/__control/sheets`, {
      method: 'POST',
      body: JSON.stringify({ email: 'user@example.com', title: 'x', sheets: { S: [[1]] } }),
    });
    expect(bad.status).toBe(400);
  });
});

describe('Sheets latency, faults and log', () => {
  it('faults on the sheets endpoint answer in the google.rpc shape; the client retries a 503', async () => {
    const spreadsheetId = seedScores();
    const token = await tokenFor(READONLY);
    standIn.control.injectFault('sheets', { kind: 'rateLimit', retryAfterSeconds: 3 });
    const url = `${standIn.url}/v4/spreadsheets/${spreadsheetId}/values/A1`;
    const limited = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('3');
    const body = (await limited.json()) as { error: RpcError };
    expect(body.error.status).toBe('RESOURCE_EXHAUSTED');
    expect(body.error.details?.[0]?.reason).toBe('RATE_LIMIT_EXCEEDED');

    standIn.control.clearRequestLog();
    standIn.control.injectFault('sheets', { kind: 'status', status: 503 });
    const answer = await sheetsFor(token).spreadsheets.values.get({ spreadsheetId, range: 'A1' });
    expect(answer.data.values).toEqual([['Name']]);
    expect(standIn.control.requestLog().map((e) => [e.endpoint, e.status])).toEqual([
      ['sheets', 503],
      ['sheets', 200],
    ]);
  });
});

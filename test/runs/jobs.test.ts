// Jobs are the product's API: each job stands on its own for each user. Adding a job with a new
// scope stops no one (the export goes on; only the new job waits for an incremental consent that
// mints no refresh token), a job without its settings waits for them, the app sets settings
// through the authenticated API (validated by the job's schema), and a revoke destroys them. Real
// Firestore emulator, the Google stand-in, the real revoke function and the callback's storing code.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeConsent } from '../../shared/flows/consent-storage.ts';
import { revokeHandler } from '../../shared/flows/revoke.ts';
import { DRIVE_FILE_SCOPE } from '../../shared/jobs/builtin/drive-export.ts';
import { SPREADSHEETS_READONLY_SCOPE } from '../../shared/jobs/builtin/sheets-read.ts';
import { buildAuthorizationUrl } from '../../shared/oauth/authorization.ts';
import { memoryPublisher } from '../../shared/pubsub/publisher.ts';
import { enabledJobs } from '../../shared/jobs/catalog.ts';
import driveExport from '../../shared/jobs/builtin/drive-export.ts';
import { defineJob } from '../../shared/jobs/define.ts';
import { jobManifest } from '../../shared/jobs/manifest.ts';
import { processBatch, type BatchSummary } from '../../shared/runs/batch.ts';
import { dispatchRun } from '../../shared/runs/dispatch.ts';
import { listConnections } from '../../infra/ops/connection-listing.ts';
import { ROOT } from '../local/stack.ts';
import { connectionRef } from '../support/connections.ts';
import { readLedger, type LedgerEntry } from '../../shared/runs/ledger.ts';
import { batchId } from '../../shared/runs/messages.ts';
import { runPeriodFor } from '../../shared/runs/run-id.ts';
import { jobSettingsPath } from '../../shared/store/job-settings.ts';
import {
  CLIENT_ID,
  REDIRECT_URI,
  startRunHarness,
  stopOwnEmulators,
  type RunHarness,
  type SeededUser,
} from './harness.ts';

const CALLER = 'app-backend@demo-consent-vault.iam.gserviceaccount.com';
let harness: RunHarness;
let day = 0;

beforeAll(async () => {
  harness = await startRunHarness('jobs', {
    REVOKE_CALLERS: CALLER,
    JOBS: 'drive-export,sheets-read',
    // Short, so that a job that hangs meets its deadline within the test.
    USER_BUDGET_SECONDS: '4',
  });
});
afterAll(async () => {
  await harness?.close();
  await stopOwnEmulators();
});

let lastSummary: BatchSummary | undefined;

async function run(users: readonly SeededUser[]): Promise<Map<string, LedgerEntry>> {
  day += 1;
  const { runId } = runPeriodFor(Date.UTC(2030, 0, day), 86400);
  const deps = await harness.deps({ publisher: memoryPublisher() });
  const subs = users.map((user) => user.sub);
  lastSummary = await processBatch(
    deps,
    { v: 1, runId, batchId: batchId(0), subs },
    { attempt: 1, final: true },
  );
  return readLedger(harness.db, runId, subs);
}

/** The app's backend calling the revoke function's API, as `caller`. */
async function api(
  method: 'GET' | 'POST',
  path: string,
  body: Record<string, unknown> | undefined,
  caller = CALLER,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const token = harness.standIn.control.mintServiceAccountIdToken({
    email: caller,
    audience: harness.runtime.config.revokeUrl,
  });
  const url = new URL(path, harness.runtime.config.revokeUrl);
  const response = await revokeHandler(harness.runtime)({
    method,
    url,
    headers: { authorization: `Bearer ${token}` },
    cookies: new Map(),
    form: undefined,
    json: body,
  });
  return { status: response.status, json: JSON.parse(response.body) as Record<string, unknown> };
}

/** The incremental consent authorize asks for (sheets-read only, no prompt=consent), stored. */
async function consentToSheets(user: SeededUser): Promise<void> {
  const { url, transaction } = buildAuthorizationUrl(harness.runtime.config, {
    now: Date.now(),
    returnTo: null,
    loginHint: user.email,
    promptConsent: false,
    jobs: ['sheets-read'],
  });
  const consentUrl = new URL(url);
  expect(consentUrl.searchParams.get('scope')).toBe(`openid email ${SPREADSHEETS_READONLY_SCOPE}`);
  expect(consentUrl.searchParams.get('include_granted_scopes')).toBe('true');
  expect(consentUrl.searchParams.has('prompt')).toBe(false);
  consentUrl.searchParams.set('standin_decision', 'approve');
  consentUrl.searchParams.set('standin_user', user.email);
  const answer = await fetch(consentUrl, { redirect: 'manual' });
  const code = new URL(answer.headers.get('location')!).searchParams.get('code')!;
  const tokens = (await (
    await fetch(harness.standIn.endpoints.tokenUrl, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: REDIRECT_URI,
        client_id: CLIENT_ID,
        client_secret: harness.env.OAUTH_CLIENT_SECRET!,
        code_verifier: transaction.codeVerifier,
      }),
    })
  ).json()) as { access_token: string; expires_in: number; scope: string; refresh_token?: string };
  // No consent screen asked for, so no new refresh token: the stored one is kept.
  expect(tokens.refresh_token).toBeUndefined();
  expect(tokens.scope.split(' ')).toEqual(
    expect.arrayContaining([DRIVE_FILE_SCOPE, SPREADSHEETS_READONLY_SCOPE]),
  );
  const stored = await storeConsent(harness.runtime, {
    sub: user.sub,
    email: user.email,
    grantedScopes: tokens.scope.split(' '),
    refreshToken: undefined,
    refreshTokenExpiresInSeconds: undefined,
    accessToken: tokens.access_token,
    accessTokenExpiresAt: Date.now() + tokens.expires_in * 1000,
  });
  expect(stored.kind).toBe('written');
}

describe('jobs on their own', () => {
  it('a job with a new scope stops no one; consent and settings start it, a revoke destroys them', async () => {
    // Connected when only drive-export was enabled: they granted its scope alone.
    const users = await harness.seedUsers(3, {
      prefix: `jobs-${randomBytes(2).toString('hex')}`,
      grant: `openid email ${DRIVE_FILE_SCOPE}`,
    });
    const [reader, waiting, unset] = users as [SeededUser, SeededUser, SeededUser];

    const first = await run(users);
    for (const user of users) {
      const entry = first.get(user.sub)!;
      expect(entry.outcome).toBe('needs-consent');
      expect(entry.jobs?.['drive-export']).toMatchObject({ outcome: 'ok', effect: 'created' });
      expect(entry.jobs?.['sheets-read']).toMatchObject({ outcome: 'needs-consent' });
      const connection = await harness.connection(user.sub);
      expect(connection.state).toBe('active');
      expect(connection.jobs['sheets-read']).toMatchObject({
        status: 'needs-consent',
        missingScopes: [SPREADSHEETS_READONLY_SCOPE],
      });
    }
    const consentNeeded = harness.events.events.filter(
      (event) => event.type === 'consent-needed' && users.some((user) => user.sub === event.sub),
    );
    expect(consentNeeded).toHaveLength(3);
    expect(consentNeeded[0]).toMatchObject({
      job: 'sheets-read',
      scopes: [SPREADSHEETS_READONLY_SCOPE],
    });

    // Two users consent to the new scope; the app sets one user's spreadsheet.
    await consentToSheets(reader);
    await consentToSheets(unset);
    const { spreadsheetId } = harness.standIn.control.seedSpreadsheet({
      email: reader.email,
      title: 'Budget',
      sheets: {
        Sheet1: [
          ['month', 'amount'],
          ['jan', '10'],
          ['feb', '12'],
        ],
      },
    });
    const set = await api('POST', '/settings', {
      sub: reader.sub,
      job: 'sheets-read',
      settings: { spreadsheetId, range: 'Sheet1!A1:B10' },
    });
    expect(set.status).toBe(200);
    expect(set.json.settings).toEqual({ spreadsheetId, range: 'Sheet1!A1:B10' });

    const second = await run(users);
    expect(second.get(reader.sub)).toMatchObject({ outcome: 'ok' });
    expect(second.get(reader.sub)!.jobs?.['sheets-read']).toMatchObject({
      outcome: 'ok',
      effect: 'read',
      details: { rows: 3, columns: 2 },
    });
    expect(second.get(waiting.sub)!.outcome).toBe('needs-consent');
    expect(second.get(unset.sub)!.outcome).toBe('needs-settings');
    expect(second.get(unset.sub)!.jobs?.['sheets-read']?.reason).toContain('spreadsheetId');
    for (const user of users)
      expect(second.get(user.sub)!.jobs?.['drive-export']).toMatchObject({ outcome: 'ok' });
    // The run's summary counts each job's outcomes: one job's failure never hides another's.
    expect(lastSummary?.jobs).toEqual({
      'drive-export': { ok: 3 },
      'sheets-read': { ok: 1, 'needs-consent': 1, 'needs-settings': 1 },
    });
    // The incremental consents minted no refresh token: one live token per user at Google.
    const grants = harness.standIn.control.grants(reader.email);
    expect(grants.map((grant) => grant.liveRefreshTokens)).toEqual([1]);

    const status = await api('GET', `/settings?sub=${reader.sub}`, undefined);
    expect(status.status).toBe(200);
    expect(status.json).toMatchObject({
      settings: { 'sheets-read': { spreadsheetId } },
      jobs: { 'sheets-read': { status: 'ok' }, 'drive-export': { status: 'ok' } },
    });

    // Unsubscribe: the settings go with the connection, in the same commit.
    expect((await api('POST', '/', { sub: reader.sub })).status).toBe(200);
    expect((await harness.db.doc(jobSettingsPath(reader.sub)).get()).exists).toBe(false);
    expect(
      (
        await api('POST', '/settings', {
          sub: reader.sub,
          job: 'sheets-read',
          settings: { spreadsheetId },
        })
      ).status,
    ).toBe(404);
    expect((await harness.db.doc(jobSettingsPath(reader.sub)).get()).exists).toBe(false);
  });

  it('settings of the wrong type, for an unknown job, or from a wrong identity are refused; nothing is stored', async () => {
    const [user] = await harness.seedUsers(1, { prefix: `bad-${randomBytes(2).toString('hex')}` });
    const wrongType = await api('POST', '/settings', {
      sub: user!.sub,
      job: 'sheets-read',
      settings: { spreadsheetId: 42 },
    });
    expect(wrongType.status).toBe(400);
    expect(wrongType.json).toMatchObject({
      error: 'invalid_settings',
      issues: [{ path: 'spreadsheetId' }],
    });
    const unknown = await api('POST', '/settings', {
      sub: user!.sub,
      job: 'mail-digest',
      settings: {},
    });
    expect(unknown.status).toBe(400);
    expect(JSON.stringify(unknown.json)).toContain('drive-export, sheets-read');
    const stranger = await api(
      'POST',
      '/settings',
      { sub: user!.sub, job: 'sheets-read', settings: { spreadsheetId: 'abc' } },
      'someone-else@other-project.iam.gserviceaccount.com',
    );
    expect(stranger.status).toBe(403);
    // Without any identity the request is no API call at all: it meets the unsubscribe form.
    const anonymous = await revokeHandler(harness.runtime)({
      method: 'POST',
      url: new URL('/settings', harness.runtime.config.revokeUrl),
      headers: {},
      cookies: new Map(),
      form: undefined,
      json: { sub: user!.sub, job: 'sheets-read', settings: { spreadsheetId: 'abc' } },
    });
    expect(anonymous.status).toBe(400);
    const badSub = await api('POST', '/settings', {
      sub: '../x',
      job: 'sheets-read',
      settings: {},
    });
    expect(badSub.status).toBe(400);
    expect((await harness.db.doc(jobSettingsPath(user!.sub)).get()).exists).toBe(false);
    expect((await harness.connection(user!.sub)).settingsUpdatedAt).toBeNull();
  });

  it("a run says how many users lack an enabled job's consent; npm run connections lists them", async () => {
    const users = await harness.seedUsers(2, {
      prefix: `gap-${randomBytes(2).toString('hex')}`,
      grant: `openid email ${DRIVE_FILE_SCOPE}`,
    });
    const deps = await harness.deps({ publisher: memoryPublisher() });
    const logsBefore = harness.logs.length;
    await dispatchRun(deps, { scheduledAt: Date.UTC(2031, 5, 1) });
    const warning = harness.logs
      .slice(logsBefore)
      .find((line) => line.message === 'enabled jobs lack consent from existing connections') as
      { severity: string; usersLackingConsent: Record<string, number> } | undefined;
    expect(warning?.severity).toBe('WARNING');
    expect(warning?.usersLackingConsent['sheets-read']).toBeGreaterThanOrEqual(2);
    expect(warning?.usersLackingConsent['drive-export']).toBeUndefined();

    const jobs = enabledJobs(jobManifest().jobs, ['drive-export', 'sheets-read']);
    const rows = await listConnections(harness.db, { needsConsent: true, jobs, limit: 1000 });
    for (const user of users) {
      const row = rows.find((cells) => cells[0] === user.sub);
      expect(row?.[4]).toBe('drive-export:not-run sheets-read:needs-consent');
    }
    const all = await listConnections(harness.db, { jobs, limit: 1000 });
    expect(all.length).toBeGreaterThan(rows.length);
  });

  it('a job that throws, hangs past its deadline or returns garbage fails alone; the export is kept', async () => {
    const [user] = await harness.seedUsers(1, {
      prefix: `broken-${randomBytes(2).toString('hex')}`,
    });
    const broken = (name: string, run: () => Promise<unknown>) =>
      defineJob({ name, title: name, scopes: [DRIVE_FILE_SCOPE], run: run as never });
    const jobs = [
      driveExport,
      broken('thrower', () => Promise.reject(new TypeError('bug in the job'))),
      broken('garbage', () => Promise.resolve({ effect: { not: 'a word' } })),
      broken('hanger', () => new Promise(() => {})),
    ];
    // Connected through a connect link: the ledger and the events name the app's user.
    await connectionRef(harness.db, user!.sub).update({ appUserId: 'app-user-7' });
    day += 1;
    const { runId } = runPeriodFor(Date.UTC(2030, 0, day), 86400);
    const deps = await harness.deps({ publisher: memoryPublisher(), jobs });
    await processBatch(
      deps,
      { v: 1, runId, batchId: batchId(0), subs: [user!.sub] },
      { attempt: 1, final: true },
    );
    const entry = (await readLedger(harness.db, runId, [user!.sub])).get(user!.sub)!;
    expect(entry.outcome).toBe('failed');
    expect(entry.appUserId).toBe('app-user-7');
    expect(entry.jobs).toMatchObject({
      'drive-export': { outcome: 'ok', effect: 'created' },
      thrower: { outcome: 'failed', reason: 'TypeError' },
      garbage: { outcome: 'failed', reason: 'job_result_invalid' },
      hanger: { outcome: 'failed', reason: 'job_deadline' },
    });
    const connection = await harness.connection(user!.sub);
    expect(connection.state).toBe('active');
    expect(connection.refreshLease).toBeNull();
    expect(connection.jobs['drive-export']).toMatchObject({ status: 'ok', effect: 'created' });
    expect(
      harness.events.events.filter(
        (event) =>
          event.type === 'job-failed' &&
          event.sub === user!.sub &&
          event.appUserId === 'app-user-7',
      ),
    ).toHaveLength(3);
  });

  it("npm run job-settings sets a user's settings for operators, validated like the API", async () => {
    const [user] = await harness.seedUsers(1, { prefix: `cli-${randomBytes(2).toString('hex')}` });
    const cli = (settings: string) =>
      spawnSync(
        process.execPath,
        [
          path.join(ROOT, 'infra/node24.mjs'),
          'infra/ops/job-settings.ts',
          user!.sub,
          'sheets-read',
          settings,
        ],
        {
          cwd: ROOT,
          encoding: 'utf8',
          env: {
            ...process.env,
            GOOGLE_CLOUD_PROJECT: harness.projectId,
            FIRESTORE_EMULATOR_HOST: harness.env.FIRESTORE_EMULATOR_HOST,
            JOBS: 'drive-export,sheets-read',
          },
        },
      );
    const bad = cli('{"spreadsheetId": 7}');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('spreadsheetId');
    expect((await harness.db.doc(jobSettingsPath(user!.sub)).get()).exists).toBe(false);
    const good = cli('{"spreadsheetId": "abc123"}');
    expect(good.status, good.stderr).toBe(0);
    expect((await harness.db.doc(jobSettingsPath(user!.sub)).get()).data()?.values).toEqual({
      'sheets-read': { spreadsheetId: 'abc123', range: 'A1:Z1000' },
    });
  });

  it('an hourly and a daily job each run once per their own period, from one hourly tick', async () => {
    const [user] = await harness.seedUsers(1, {
      prefix: `sched-${randomBytes(2).toString('hex')}`,
    });
    const calls: Record<string, string[]> = { hourly: [], daily: [] };
    const probe = (schedule: 'hourly' | 'daily') =>
      defineJob({
        name: `${schedule}-probe`,
        title: schedule,
        scopes: [DRIVE_FILE_SCOPE],
        schedule,
        run: (context) => {
          calls[schedule]!.push(context.idempotencyKey);
          return Promise.resolve({ effect: 'probed' });
        },
      });
    const deps = await harness.deps({
      publisher: memoryPublisher(),
      jobs: [probe('hourly'), probe('daily')],
    });
    const outcomes: string[] = [];
    // Three hourly runs on one day, then one the next day.
    for (const at of [
      Date.UTC(2032, 2, 1, 0),
      Date.UTC(2032, 2, 1, 1),
      Date.UTC(2032, 2, 1, 2),
      Date.UTC(2032, 2, 2, 0),
    ]) {
      const { runId } = runPeriodFor(at, 3600);
      await processBatch(
        deps,
        { v: 1, runId, batchId: batchId(0), subs: [user!.sub] },
        { attempt: 1, final: true },
      );
      const entry = (await readLedger(harness.db, runId, [user!.sub])).get(user!.sub)!;
      outcomes.push(
        `${entry.jobs?.['hourly-probe']?.outcome}/${entry.jobs?.['daily-probe']?.outcome}`,
      );
    }
    expect(outcomes).toEqual(['ok/ok', 'ok/not-due', 'ok/not-due', 'ok/ok']);
    expect(calls.hourly).toHaveLength(4);
    expect(new Set(calls.hourly).size).toBe(4);
    expect(calls.daily).toEqual([
      `daily-probe:2032-03-01_86400s:${user!.sub}`,
      `daily-probe:2032-03-02_86400s:${user!.sub}`,
    ]);
  });
});

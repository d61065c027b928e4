// Google's Cross-Account Protection against the real receiver: the stand-in plays Google's
// transmitter (discovery, JWKS, the stream API, signed pushes) and the `risc` function's handler
// serves a real HTTP endpoint over the Firestore emulator. A user who removes the app's access at
// Google is disconnected within the push; a hijacked account is revoked; a disabled one is paused
// until enabled. Every malformed or forged token is answered 400 and writes nothing.
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { requestListener } from '../../shared/platform/http-adapter.ts';
import { REQUEST_BODIES } from '../../shared/web/bodies.ts';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processBatch } from '../../shared/runs/batch.ts';
import { readLedger } from '../../shared/runs/ledger.ts';
import { batchId } from '../../shared/runs/messages.ts';
import { memoryPublisher } from '../../shared/pubsub/publisher.ts';
import { riscHandler } from '../../shared/risc/receiver.ts';
import { runPeriodFor } from '../../shared/runs/run-id.ts';
import { ROOT } from '../local/stack.ts';
import { expectNoWrites } from '../support/app.ts';
import {
  CLIENT_ID,
  startRunHarness,
  stopOwnEmulators,
  type RunHarness,
  type SeededUser,
} from './harness.ts';

const PUSH = 'https://schemas.openid.net/secevent/risc/delivery-method/push';
const OAUTH = 'https://schemas.openid.net/secevent/oauth/event-type/';
const RISC = 'https://schemas.openid.net/secevent/risc/event-type/';
const ALL = [
  `${OAUTH}tokens-revoked`,
  `${OAUTH}token-revoked`,
  `${RISC}account-disabled`,
  `${RISC}account-enabled`,
  `${RISC}sessions-revoked`,
  `${RISC}account-credential-change-required`,
  `${RISC}verification`,
];
const RISC_AUDIENCE =
  'https://risc.googleapis.com/google.identity.risc.v1beta.RiscManagementService';

let harness: RunHarness;
let server: Server;
let receiverUrl: string;

beforeAll(async () => {
  harness = await startRunHarness('risc');
  const handle = riscHandler(harness.runtime);
  // The deployed function's own listener and body rules (shared/platform/serve-http.ts).
  server = createServer(requestListener(handle, REQUEST_BODIES.risc, harness.runtime.log));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  // Registering the stream, as `npm run risc -- register` does.
  const token = harness.standIn.control.mintServiceAccountIdToken({
    email: 'risc-admin@demo.iam.gserviceaccount.com',
    audience: RISC_AUDIENCE,
  });
  const registered = await fetch(
    new URL('v1beta/stream:update', harness.standIn.endpoints.riscApiRoot),
    {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        delivery: { delivery_method: PUSH, url: receiverUrl },
        events_requested: ALL,
      }),
    },
  );
  expect(registered.status).toBe(200);
});
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await harness?.close();
  await stopOwnEmulators();
});

async function oneUser(prefix: string): Promise<SeededUser> {
  const [user] = await harness.seedUsers(1, { prefix: `${prefix}-${Date.now() % 100000}` });
  return user!;
}

describe('Cross-Account Protection', () => {
  it('a user who removes access at Google is disconnected within the push', async () => {
    const user = await oneUser('removed');
    const started = Date.now();
    harness.standIn.control.revokeUserGrant(user.email, CLIENT_ID);
    const [delivery] = await harness.standIn.control.riscSettled();
    expect(delivery).toMatchObject({ event: 'tokens-revoked', status: 202 });
    const connection = await harness.connection(user.sub);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(connection).toMatchObject({
      state: 'needs-reconnect',
      reconnectReason: 'risc:tokens-revoked',
      refreshToken: null,
      accessToken: null,
      refreshTokenHash: null,
    });
    expect(harness.events.events).toContainEqual(
      expect.objectContaining({
        type: 'needs-reconnect',
        sub: user.sub,
        reason: 'risc:tokens-revoked',
      }),
    );
    // The same token delivered again changes nothing and is still accepted.
    const replay = await harness.standIn.control.deliverSet(delivery!.set);
    expect(replay.status).toBe(202);
  });

  it('token-revoked names our stored refresh token by its digest', async () => {
    const user = await oneUser('token');
    const consent = await harness.consentAtGoogle(user.email);
    const { storeConsent } = await import('../../shared/flows/consent-storage.ts');
    await storeConsent(harness.runtime, {
      sub: consent.sub,
      email: user.email,
      grantedScopes: consent.scopes,
      refreshToken: consent.refreshToken,
      refreshTokenExpiresInSeconds: undefined,
      accessToken: consent.accessToken,
      accessTokenExpiresAt: Date.now() + consent.expiresIn * 1000,
    });
    const [delivery] = await harness.standIn.control.emitRiscEvent({
      email: user.email,
      type: 'token-revoked',
      refreshToken: consent.refreshToken,
    });
    expect(delivery?.status).toBe(202);
    expect((await harness.connection(user.sub)).reconnectReason).toBe('risc:token-revoked');
  });

  it('a hijacked account is revoked at Google and destroyed; a disabled one pauses until enabled', async () => {
    const hijacked = await oneUser('hijacked');
    await harness.standIn.control.disableAccount({ email: hijacked.email, reason: 'hijacking' });
    expect((await harness.connection(hijacked.sub)).state).toBe('revoked');

    const disabled = await oneUser('disabled');
    await harness.standIn.control.disableAccount({ email: disabled.email, reason: 'bulk-account' });
    expect((await harness.connection(disabled.sub)).paused).toMatchObject({
      reason: 'account-disabled:bulk-account',
    });
    const deps = await harness.deps({ publisher: memoryPublisher() });
    const { runId } = runPeriodFor(Date.UTC(2033, 0, 1), 86400);
    await processBatch(
      deps,
      { v: 1, runId, batchId: batchId(0), subs: [disabled.sub] },
      { attempt: 1, final: true },
    );
    const skipped = (await readLedger(harness.db, runId, [disabled.sub])).get(disabled.sub);
    expect(skipped?.outcome).toBe('skipped');
    expect(harness.standIn.control.driveFiles(disabled.email)).toEqual([]);

    await harness.standIn.control.enableAccount({ email: disabled.email });
    expect((await harness.connection(disabled.sub)).paused).toBeNull();
    expect(harness.events.events).toContainEqual(
      expect.objectContaining({
        type: 'security-event',
        sub: disabled.sub,
        reason: 'account-enabled',
      }),
    );
  });

  it('sessions-revoked and credential changes become events; verification is logged', async () => {
    const user = await oneUser('sessions');
    await harness.standIn.control.emitRiscEvent({ email: user.email, type: 'sessions-revoked' });
    await harness.standIn.control.emitRiscEvent({
      email: user.email,
      type: 'account-credential-change-required',
    });
    const kinds = harness.events.events
      .filter((event) => event.type === 'security-event' && event.sub === user.sub)
      .map((event) => event.reason);
    expect(kinds).toEqual(['sessions-revoked', 'account-credential-change-required']);
    expect((await harness.connection(user.sub)).state).toBe('active');
  });

  it('forged, malformed or foreign tokens get 400 and write nothing', async () => {
    const user = await oneUser('forged');
    const control = harness.standIn.control;
    const claims = (overrides: Record<string, unknown> = {}) => ({
      ...control.riscSetPayload({ clientId: CLIENT_ID, type: 'tokens-revoked', email: user.email }),
      ...overrides,
    });
    const post = (body: string, type = 'application/secevent+jwt') =>
      fetch(receiverUrl, { method: 'POST', headers: { 'content-type': type }, body });
    const cases: [string, string, number?][] = [
      ['unsigned', control.signSet(claims(), { key: 'none' })],
      ['wrongly signed', control.signSet(claims(), { key: 'foreign' })],
      ['unknown kid', control.signSet(claims(), { kid: 'no-such-key' })],
      ['wrong aud', control.signSet(claims({ aud: 'someone-else.apps.googleusercontent.com' }))],
      ['wrong iss', control.signSet(claims({ iss: 'https://evil.example/' }))],
      ['malformed', 'not.a.jwt'],
      ['json garbage', '{"events":'],
      // Refused before it is read (shared/web/bodies.ts).
      ['huge', 'a'.repeat(200_000), 413],
    ];
    for (const [name, body, status = 400] of cases) {
      const answer = await expectNoWrites(harness.db, () => post(body));
      expect(answer.status, name).toBe(status);
      const text = await answer.text();
      expect(text, name).not.toMatch(/at .*\.ts:\d+/);
    }
    expect((await harness.connection(user.sub)).state).toBe('active');
    expect((await fetch(receiverUrl)).status).toBe(405);
  });

  it('an unknown event type and an unknown user are accepted and change nothing', async () => {
    const control = harness.standIn.control;
    const unknownType = control.signSet({
      ...control.riscSetPayload({
        clientId: CLIENT_ID,
        type: 'tokens-revoked',
        email: 'nobody@example.com',
      }),
      events: { 'https://schemas.openid.net/secevent/risc/event-type/something-new': {} },
    });
    expect((await control.deliverSet(unknownType)).status).toBe(202);
    const stranger = control.signSet(
      control.riscSetPayload({
        clientId: CLIENT_ID,
        type: 'tokens-revoked',
        email: 'stranger@example.com',
      }),
    );
    expect((await control.deliverSet(stranger)).status).toBe(202);
  });

  it('a rotated transmitter key is fetched once on its first unknown kid', async () => {
    const user = await oneUser('rotated');
    // Past the refetch cool-down a forged kid above may have started.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await harness.standIn.control.rotateRiscKey();
    const [delivery] = await harness.standIn.control.emitRiscEvent({
      email: user.email,
      type: 'tokens-revoked',
    });
    expect(delivery?.status).toBe(202);
    expect((await harness.connection(user.sub)).state).toBe('needs-reconnect');
  });

  it('npm run risc manages the stream: status shows the receiver, verify sends a verification event', async () => {
    // Asynchronously: the stand-in and the receiver answer from this very process.
    const cli = (...args: string[]) =>
      new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          [path.join(ROOT, 'infra/node24.mjs'), 'infra/ops/risc.ts', ...args],
          {
            cwd: ROOT,
            encoding: 'utf8',
            env: {
              ...process.env,
              STAND_IN_URL: harness.standIn.url,
              RISC_API_ROOT: harness.standIn.endpoints.riscApiRoot,
            },
          },
          (error, stdout, stderr) =>
            resolve({ status: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
        );
      });
    const status = await cli('status');
    expect(status.status, status.stderr).toBe(0);
    expect(status.stdout).toContain(receiverUrl);
    const verify = await cli('verify', '--state', 'operator-check-1');
    expect(verify.status, verify.stderr).toBe(0);
    const deliveries = await harness.standIn.control.riscSettled();
    expect(deliveries.at(-1)).toMatchObject({ event: 'verification', status: 202 });
    expect(harness.logs).toContainEqual(
      expect.objectContaining({
        message: 'RISC verification event',
        verificationState: 'operator-check-1',
      }),
    );
    expect((await cli('register')).status).toBe(2);

    // The operator's one view: keys in use, the stream, the last events and paused users.
    const pausedUser = await oneUser('paused');
    await harness.standIn.control.disableAccount({
      email: pausedUser.email,
      reason: 'bulk-account',
    });
    const overview = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        [path.join(ROOT, 'infra/node24.mjs'), 'infra/ops/security-status.ts'],
        {
          cwd: ROOT,
          encoding: 'utf8',
          env: {
            ...process.env,
            GOOGLE_CLOUD_PROJECT: harness.projectId,
            FIRESTORE_EMULATOR_HOST: harness.env.FIRESTORE_EMULATOR_HOST,
            TOKEN_KEYSET: harness.env.TOKEN_KEYSET,
            STAND_IN_URL: harness.standIn.url,
            RISC_API_ROOT: harness.standIn.endpoints.riscApiRoot,
          },
        },
        (error, stdout, stderr) => (error ? reject(new Error(stderr)) : resolve(stdout)),
      );
    });
    expect(overview).toMatch(/k1 +primary +\d+/);
    expect(overview).toContain(receiverUrl);
    expect(overview).toMatch(/verification +- +applied/);
    expect(overview).toMatch(/tokens-revoked +\d+ +applied/);
    expect(overview).toContain('1 connection(s) paused');
  });
});

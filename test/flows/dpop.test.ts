// DPoP-bound refresh tokens end to end (RFC 9449): the callback's code exchange carries a proof,
// so Google (the stand-in, enforcing it as Google does) binds the refresh token to our key; runs
// refresh with proofs of that key, nonce challenges included. Someone holding the database and
// the token keyset, without the DPoP key, cannot refresh the token.
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import path from 'node:path';
import { calculateJwkThumbprint, decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dpopBindings } from '../../shared/keys/rotation.ts';
import { readHalt, SIGNING_KEY_ALERT } from '../../shared/runs/halt.ts';
import { startFakeKms, type FakeKms } from '../fakes/kms-server.ts';
import { memoryEventPublisher } from '../../shared/pubsub/events.ts';
import { memoryPublisher } from '../../shared/pubsub/publisher.ts';
import { processBatch } from '../../shared/runs/batch.ts';
import { createRunDeps } from '../../shared/runs/deps.ts';
import { readLedger } from '../../shared/runs/ledger.ts';
import { batchId } from '../../shared/runs/messages.ts';
import { runPeriodFor } from '../../shared/runs/run-id.ts';
import { openToken, type StoredConnection } from '../../shared/store/connection/document.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { connectionRef } from '../support/connections.ts';
import { UserAgent } from '../support/user-agent.ts';

function dpopKeysJson(): { json: string; publicJwk: Record<string, string> } {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' });
  return {
    json: JSON.stringify({ primary: 'd1', keys: { d1: jwk } }),
    publicJwk: { kty: 'EC', crv: 'P-256', x: jwk.x!, y: jwk.y! },
  };
}

const ROOT = path.resolve(import.meta.dirname, '../..');
const keys = dpopKeysJson();
let jkt: string;
let app: TestApp;
beforeAll(async () => {
  jkt = await calculateJwkThumbprint(keys.publicJwk, 'sha256');
  app = await startTestApp({ DPOP_KEYS: keys.json });
});
afterAll(() => app?.close());

function connect(email: string): Promise<StoredConnection> {
  return connectTo(app, email);
}

async function connectTo(app: TestApp, email: string): Promise<StoredConnection> {
  const hops = await new UserAgent().connect(app.urls.authorize, { email });
  expect(hops.at(-1)?.status).toBe(303);
  const sub = app.standIn.control.grants(email)[0]!.sub;
  return (await connectionRef(app.db, sub).get()).data() as StoredConnection;
}

/** A run for the user, with their access token expired so that it must refresh. */
function runFor(sub: string, day: number) {
  return runOn(app, sub, day);
}

async function runOn(app: TestApp, sub: string, day: number) {
  await connectionRef(app.db, sub).update({ accessTokenExpiresAt: new Date(0) });
  const deps = await createRunDeps(app.runtime, {
    publisher: memoryPublisher(),
    events: memoryEventPublisher(),
  });
  const { runId } = runPeriodFor(Date.UTC(2034, 0, day), 86400);
  await processBatch(
    deps,
    { v: 1, runId, batchId: batchId(0), subs: [sub] },
    { attempt: 1, final: true },
  );
  return (await readLedger(app.db, runId, [sub])).get(sub);
}

describe('DPoP-bound refresh tokens', () => {
  it('the consent binds the refresh token to our key; a run refreshes with proofs', async () => {
    const connection = await connect('bound@example.com');
    expect(connection.dpopJkt).toBe(jkt);
    expect(app.standIn.control.grants('bound@example.com')[0]?.boundJkts).toContain(jkt);
    const entry = await runFor(connection.sub, 1);
    expect(entry).toMatchObject({ outcome: 'ok' });
  });

  it('the database and the token keyset without the DPoP key cannot refresh the token', async () => {
    const connection = await connect('stolen@example.com');
    const tokenKeys = await app.runtime.keys('token');
    const refreshToken = openToken(
      tokenKeys,
      connection.sub,
      'refreshToken',
      connection.refreshToken!,
    );
    const answer = await fetch(app.standIn.endpoints.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: refreshToken,
        client_id: app.env.OAUTH_CLIENT_ID!,
        client_secret: app.clientSecret,
      }),
    });
    expect(answer.status).toBe(400);
    expect(((await answer.json()) as { error: string }).error).toBe('invalid_grant');
    // The operator sees how many connections each DPoP key still binds.
    expect((await dpopBindings(app.db)).get(jkt)).toBe(2);
  });

  it('a server demanding a nonce is answered with one, at the exchange and at every refresh', async () => {
    app.standIn.control.setDpopNonceRequired(true);
    try {
      const connection = await connect('nonce@example.com');
      expect(connection.dpopJkt).toBe(jkt);
      app.standIn.control.rotateDpopNonce();
      expect(await runFor(connection.sub, 2)).toMatchObject({ outcome: 'ok' });
    } finally {
      app.standIn.control.setDpopNonceRequired(false);
    }
  });
});

describe('DPoP keys held in Cloud KMS', () => {
  const version = (n: number) =>
    `projects/demo-consent-vault/locations/europe-west1/keyRings/consent-vault/cryptoKeys/consent-vault-dpop/cryptoKeyVersions/${n}`;
  let kms: FakeKms;
  let kmsApp: TestApp;
  let kmsJkt: string;
  beforeAll(async () => {
    kms = await startFakeKms();
    // Version 2 is the primary; version 1 and the secret's key stay for tokens bound to them.
    kmsApp = await startTestApp({
      KMS_ENDPOINT: kms.url,
      DPOP_KMS_KEYS: `${version(2)},${version(1)}`,
      DPOP_KEYS: keys.json,
    });
    const publicJwk = kms.publicKeyOf(version(2)).export({ format: 'jwk' });
    kmsJkt = await calculateJwkThumbprint(
      { kty: 'EC', crv: 'P-256', x: publicJwk.x!, y: publicJwk.y! },
      'sha256',
    );
  });
  afterAll(async () => {
    await kmsApp?.close();
    await kms?.close();
  });

  it('binds new tokens to the KMS primary; each proof is one asymmetricSign call', async () => {
    const before = kms.calls('asymmetricSign');
    const connection = await connectTo(kmsApp, 'kms-bound@example.com');
    expect(connection.dpopJkt).toBe(kmsJkt);
    expect(app.standIn.control.grants('kms-bound@example.com')).toHaveLength(0);
    expect(kmsApp.standIn.control.grants('kms-bound@example.com')[0]?.boundJkts).toContain(kmsJkt);
    expect(kms.calls('asymmetricSign') - before).toBe(1);
    expect(await runOn(kmsApp, connection.sub, 3)).toMatchObject({ outcome: 'ok' });
    expect(kms.calls('asymmetricSign') - before).toBe(2);
    expect(kmsApp.runtime.kmsCalls()).toMatchObject({ sign: 2, publicKey: 2 });
  });

  it('a proof signed in KMS is a valid ES256 JWS of the KMS public key', async () => {
    const dpop = (await kmsApp.runtime.dpopKeys())!;
    expect(dpop.primaryJkt).toBe(kmsJkt);
    // Both KMS versions and the secret's key: tokens bound to any of them still refresh.
    expect(dpop.jkts).toHaveLength(3);
    expect(dpop.jkts).toContain(jkt);
    const proof = await dpop.proof(kmsJkt, {
      htm: 'POST',
      htu: 'https://oauth2.googleapis.com/token',
    });
    const header = decodeProtectedHeader(proof);
    expect(header).toMatchObject({ typ: 'dpop+jwt', alg: 'ES256' });
    await jwtVerify(proof, kms.publicKeyOf(version(2)));
    await jwtVerify(proof, await importJWK(header.jwk!, 'ES256'));
  });

  it('KMS refusing to sign halts the run with an alert and leaves the user untouched', async () => {
    const connection = await connectTo(kmsApp, 'kms-denied@example.com');
    const stored = (
      await connectionRef(kmsApp.db, connection.sub).get()
    ).data() as StoredConnection;
    kms.deny(version(2), true, 'asymmetricSign');
    try {
      // A halted user has no ledger entry: the next run does them.
      expect(await runOn(kmsApp, connection.sub, 4)).toBeUndefined();
      const { runId } = runPeriodFor(Date.UTC(2034, 0, 4), 86400);
      expect(await readHalt(kmsApp.db, runId)).toEqual({
        halted: true,
        reason: 'PERMISSION_DENIED',
      });
      const alerts = kmsApp.logs.filter((line) => line.alert === SIGNING_KEY_ALERT);
      expect(alerts).toHaveLength(1);
      expect(alerts[0]?.severity).toBe('ERROR');
      const after = (
        await connectionRef(kmsApp.db, connection.sub).get()
      ).data() as StoredConnection;
      expect(after.state).toBe('active');
      expect(after.refreshToken).toEqual(stored.refreshToken);
      expect(after.dpopJkt).toBe(kmsJkt);
      // Google never saw a refresh for it.
      expect(kmsApp.standIn.control.grants('kms-denied@example.com')[0]?.boundJkts).toEqual([
        kmsJkt,
      ]);
    } finally {
      kms.deny(version(2), false, 'asymmetricSign');
    }
    expect(await runOn(kmsApp, connection.sub, 5)).toMatchObject({ outcome: 'ok' });
  });

  it('a consent while KMS refuses to sign gets a friendly page and stores nothing', async () => {
    kms.deny(version(2), true, 'asymmetricSign');
    try {
      const hops = await new UserAgent().connect(kmsApp.urls.authorize, {
        email: 'kms-consent@example.com',
      });
      const last = hops.at(-1)!;
      expect(last.status).toBe(503);
      expect(last.body).toContain('We have been alerted');
      expect(last.body).not.toMatch(/at \w+ \(|stack/i);
      expect(kmsApp.standIn.control.grants('kms-consent@example.com')[0]?.boundJkts ?? []).toEqual(
        [],
      );
      const sub = kmsApp.standIn.control.grants('kms-consent@example.com')[0]!.sub;
      expect((await connectionRef(kmsApp.db, sub).get()).exists).toBe(false);
    } finally {
      kms.deny(version(2), false, 'asymmetricSign');
    }
  });

  it.each([['security-status'], ['rotate-keys', '--status']])(
    '%s shows the DPoP mode, where each key lives and the connections bound to it',
    async (tool, ...args) => {
      const stdout = await new Promise<string>((resolve, reject) => {
        execFile(
          process.execPath,
          [path.join(ROOT, 'infra/node24.mjs'), `infra/ops/${tool}.ts`, ...args],
          {
            cwd: ROOT,
            encoding: 'utf8',
            env: {
              ...process.env,
              GOOGLE_CLOUD_PROJECT: kmsApp.projectId,
              FIRESTORE_EMULATOR_HOST: kmsApp.env.FIRESTORE_EMULATOR_HOST,
              TOKEN_KEYSET: kmsApp.env.TOKEN_KEYSET,
              KMS_ENDPOINT: kms.url,
              DPOP_KMS_KEYS: kmsApp.env.DPOP_KMS_KEYS,
              DPOP_KEYS: keys.json,
            },
          },
          (error, out, stderr) => (error ? reject(new Error(stderr)) : resolve(out)),
        );
      });
      const bound = (await dpopBindings(kmsApp.db)).get(kmsJkt) ?? 0;
      expect(bound).toBeGreaterThanOrEqual(2);
      expect(stdout).toContain('mode: Cloud KMS');
      expect(stdout).toMatch(
        new RegExp(`${kmsJkt} +DPOP_KMS_KEYS \\S+/cryptoKeyVersions/2 \\(primary\\) +${bound}\\b`),
      );
      expect(stdout).toMatch(new RegExp(`${jkt} +DPOP_KEYS d1 +0\\b`));
      expect(stdout).not.toContain(keys.json);
    },
  );
});

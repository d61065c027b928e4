// DPoP-bound refresh tokens end to end (RFC 9449): the callback's code exchange carries a proof,
// so Google (the stand-in, enforcing it as Google does) binds the refresh token to our key; runs
// refresh with proofs of that key, nonce challenges included. Someone holding the database and
// the token keyset, without the DPoP key, cannot refresh the token.
import { generateKeyPairSync } from 'node:crypto';
import { calculateJwkThumbprint } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dpopBindings } from '../../shared/keys/rotation.ts';
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

const keys = dpopKeysJson();
let jkt: string;
let app: TestApp;
beforeAll(async () => {
  jkt = await calculateJwkThumbprint(keys.publicJwk, 'sha256');
  app = await startTestApp({ DPOP_KEYS: keys.json });
});
afterAll(() => app?.close());

async function connect(email: string): Promise<StoredConnection> {
  const hops = await new UserAgent().connect(app.urls.authorize, { email });
  expect(hops.at(-1)?.status).toBe(303);
  const sub = app.standIn.control.grants(email)[0]!.sub;
  return (await connectionRef(app.db, sub).get()).data() as StoredConnection;
}

/** A run for the user, with their access token expired so that it must refresh. */
async function runFor(sub: string, day: number) {
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

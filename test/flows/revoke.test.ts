// The revoke function: signed unsubscribe links (GET confirms, POST acts), server-to-server calls
// with a Google-signed ID token, and everything that must be refused. Google's revoke endpoint is
// reached through a recording proxy, so the tests can see where the token travelled.
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Timestamp } from '@google-cloud/firestore';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/settings/config.ts';
import { revokeHandler } from '../../shared/flows/revoke.ts';
import { httpServices } from '../../shared/platform/http-services.ts';
import type { HttpRequest } from '../../shared/web/http.ts';
import { createRuntime } from '../../shared/platform/runtime.ts';
import { openToken, type StoredConnection } from '../../shared/store/connection/document.ts';
import { createUnsubscribeLink } from '../../shared/web/unsubscribe-link.ts';
import { expectNoWrites, SERVICE_CALLER, startTestApp, type TestApp } from '../support/app.ts';
import { UserAgent } from '../support/user-agent.ts';
import { DECRYPT_FAILED } from '../../shared/errors.ts';

const decryptFailure = expect.objectContaining({
  name: 'OperationError',
  code: DECRYPT_FAILED,
}) as Error;

interface Forwarded {
  method: string;
  url: string;
  body: string;
}

/** Forwards to the stand-in and remembers each request (method, URL with query, body). */
async function startRecordingProxy(): Promise<{
  url: string;
  setTarget(url: string): void;
  requests: Forwarded[];
  close(): Promise<void>;
}> {
  let target = '';
  const requests: Forwarded[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      requests.push({ method: req.method ?? '', url: req.url ?? '', body: body.toString('utf8') });
      const upstream = new URL(req.url ?? '/', target);
      const forward = httpRequest(
        upstream,
        { method: req.method, headers: { ...req.headers, host: upstream.host } },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forward.on('error', () => res.destroy());
      forward.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    setTarget: (url) => (target = url),
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let app: TestApp;
let proxy: Awaited<ReturnType<typeof startRecordingProxy>>;

beforeAll(async () => {
  proxy = await startRecordingProxy();
  app = await startTestApp({ GOOGLE_REVOKE_URL: `${proxy.url}/revoke` });
  proxy.setTarget(app.standIn.url);
});
afterAll(async () => {
  await app?.close();
  await proxy?.close();
});
afterEach(() => {
  app.clockOffsetMs = 0;
  app.standIn.control.clearFaults();
});

const HOUR = 3600_000;

async function connect(email: string): Promise<string> {
  const hops = await new UserAgent().connect(app.urls.authorize, { email });
  expect(hops.at(-1)?.status).toBe(303);
  const sub = app.standIn.control.grants(email)[0]?.sub;
  if (!sub) throw new Error(`no grant for ${email}`);
  return sub;
}

async function connection(sub: string): Promise<StoredConnection | undefined> {
  return (await app.db.doc(`connections/${sub}`).get()).data() as StoredConnection | undefined;
}

async function revocations(sub: string): Promise<Array<Record<string, unknown>>> {
  const snapshot = await app.db.collection('revocations').where('sub', '==', sub).get();
  return snapshot.docs.map((doc) => doc.data());
}

async function linkFor(sub: string, expiresAtMs = Date.now() + HOUR): Promise<URL> {
  const keys = await app.runtime.keys('link');
  return new URL(createUnsubscribeLink(keys, app.runtime.config.revokeUrl, sub, expiresAtMs));
}

async function refreshTokenOf(sub: string): Promise<string> {
  const keys = await app.runtime.keys('token');
  return openToken(keys, sub, 'refreshToken', (await connection(sub))!.refreshToken!);
}

/** What the confirmation form would post: the link's fields, in the body. */
function postLink(link: URL, override: Record<string, string | null> = {}): Promise<Response> {
  const form = new URLSearchParams(link.searchParams);
  for (const [name, value] of Object.entries(override))
    if (value === null) form.delete(name);
    else form.set(name, value);
  return fetch(`${link.origin}${link.pathname}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form.toString(),
    redirect: 'manual',
  });
}

function postApi(sub: unknown, idToken: string | undefined): Promise<Response> {
  return fetch(app.urls.revoke, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(idToken === undefined ? {} : { authorization: `Bearer ${idToken}` }),
    },
    body: JSON.stringify({ sub }),
  });
}

function callerToken(email = SERVICE_CALLER, audience = app.runtime.config.revokeUrl): string {
  return app.standIn.control.mintServiceAccountIdToken({ email, audience });
}

function alive(email: string): boolean {
  return app.standIn.control.grants(email).length > 0;
}

function expectRevokedShape(doc: StoredConnection | undefined, sub: string): void {
  expect(doc && Object.keys(doc).sort()).toEqual(['revokedAt', 'state', 'sub', 'updatedAt']);
  expect(doc?.sub).toBe(sub);
  expect(doc?.state).toBe('revoked');
}

describe('unsubscribe link', () => {
  it('posts the confirmation to the configured URL, not the path the function sees (regression)', async () => {
    // Behind https://REGION-PROJECT.cloudfunctions.net/revoke the function sees the path `/`; a
    // form posting to `/` would land on the domain's root.
    const revokeUrl = 'https://europe-west1-demo-p.cloudfunctions.net/revoke';
    const runtime = createRuntime({
      config: loadConfig({ ...app.env, REVOKE_URL: revokeUrl }, { tokenKeyset: true }),
      services: httpServices,
      sink: () => {},
    });
    const sub = await connect('cloud-url@example.com');
    const link = createUnsubscribeLink(
      await runtime.keys('link'),
      revokeUrl,
      sub,
      Date.now() + 60_000,
    );
    const request: HttpRequest = {
      method: 'GET',
      url: new URL(`http://function.invalid/${new URL(link).search}`),
      headers: {},
      cookies: new Map(),
      form: undefined,
      json: undefined,
    };
    const response = await revokeHandler(runtime)(request);
    await runtime.close();
    expect(response.status).toBe(200);
    expect(response.body).toContain(`<form method="post" action="${revokeUrl}">`);
  });

  it('GET shows a confirmation form and changes nothing (link scanners)', async () => {
    const sub = await connect('scanner@example.com');
    const link = await linkFor(sub);
    const revokesBefore = proxy.requests.length;
    const response = await expectNoWrites(app.db, () => fetch(link));
    expect(response.status).toBe(200);
    const body = await response.text();
    expect(body).toContain(`<form method="post" action="${app.urls.revoke}">`);
    for (const [name, value] of link.searchParams)
      expect(body).toContain(`<input type="hidden" name="${name}" value="${value}">`);
    expect((await expectNoWrites(app.db, () => fetch(link, { method: 'HEAD' }))).status).toBe(200);
    expect(proxy.requests.length).toBe(revokesBefore);
    expect(alive('scanner@example.com')).toBe(true);
    expect((await connection(sub))?.state).toBe('active');
  });

  it('POST revokes the refresh token at Google (in the body), deletes every token and records it', async () => {
    const sub = await connect('leaver@example.com');
    const refreshToken = await refreshTokenOf(sub);
    const link = await linkFor(sub);
    const page = await (await fetch(link)).text();
    // Submit exactly what the confirmation page's form carries.
    const fields = new URLSearchParams(
      [...page.matchAll(/<input type="hidden" name="(\w)" value="([^"]*)">/g)].map(
        ([, name = '', value = '']): [string, string] => [name, value],
      ),
    );
    expect([...fields.keys()].sort()).toEqual(['e', 'k', 's', 'u']);
    const response = await fetch(`${link.origin}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: fields.toString(),
    });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('You are unsubscribed');

    expect(alive('leaver@example.com')).toBe(false);
    const call = proxy.requests.at(-1)!;
    expect(call.method).toBe('POST');
    expect(new URL(call.url, 'http://x').search).toBe('');
    expect(new URLSearchParams(call.body).get('token')).toBe(refreshToken);

    expectRevokedShape(await connection(sub), sub);
    const [record, ...more] = await revocations(sub);
    expect(more).toEqual([]);
    expect(record).toMatchObject({ sub, via: 'link', actor: 'user', googleResult: 'revoked' });
    // Written over REST: the same types the client library reads and the TTL policy needs.
    expect(record?.at).toBeInstanceOf(Timestamp);
    expect(record?.expireAt).toBeInstanceOf(Timestamp);
    expect((record?.expireAt as Timestamp).toMillis() - (record?.at as Timestamp).toMillis()).toBe(
      400 * 86400e3,
    );
    expect((await connection(sub))?.revokedAt).toBeInstanceOf(Timestamp);
    expect(JSON.stringify(record)).not.toContain(refreshToken);
    expect(Object.keys(record!).filter((key) => /token/i.test(key))).toEqual([]);
  });

  it('a second POST of the same link is idempotent: neutral page, nothing more written', async () => {
    const sub = await connect('twice@example.com');
    const link = await linkFor(sub);
    expect((await postLink(link)).status).toBe(200);
    const again = await expectNoWrites(app.db, () => postLink(link));
    expect(again.status).toBe(200);
    expect(await again.text()).toContain('Nothing to unsubscribe');
    const get = await expectNoWrites(app.db, () => fetch(link));
    expect(await get.text()).toContain('Nothing to unsubscribe');
    expect(await revocations(sub)).toHaveLength(1);
  });

  it('an unknown user gets the neutral page on GET and POST, and nothing is written', async () => {
    const link = await linkFor('109999999999999999999');
    for (const response of [
      await expectNoWrites(app.db, () => fetch(link)),
      await expectNoWrites(app.db, () => postLink(link)),
    ]) {
      expect(response.status).toBe(200);
      expect(await response.text()).toContain('Nothing to unsubscribe');
    }
  });

  it('refuses an expired link (app clock past its expiry): 410 on GET and POST', async () => {
    const sub = await connect('expired-link@example.com');
    const link = await linkFor(sub, Date.now() + HOUR);
    app.clockOffsetMs = 2 * HOUR;
    for (const response of [
      await expectNoWrites(app.db, () => fetch(link)),
      await expectNoWrites(app.db, () => postLink(link)),
    ]) {
      expect(response.status).toBe(410);
      expect(await response.text()).toContain('has expired');
    }
    expect(alive('expired-link@example.com')).toBe(true);
  });

  it('refuses tampered links and links signed with another key: 400, nothing changes', async () => {
    const sub = await connect('tamper@example.com');
    const other = await connect('tamper-other@example.com');
    const link = await linkFor(sub);
    const signature = link.searchParams.get('s')!;
    const flipped = `${signature.slice(0, -2)}${signature.at(-2) === 'A' ? 'B' : 'A'}${signature.at(-1)}`;
    const tampered: Array<Record<string, string | null>> = [
      { s: flipped },
      { u: other },
      { e: String(Number(link.searchParams.get('e')) + 86400) },
      { k: 'k2' },
      { s: null },
      { u: null },
      { s: `${signature}=` },
    ];
    for (const override of tampered) {
      const response = await expectNoWrites(app.db, () => postLink(link, override));
      expect(response.status, JSON.stringify(override)).toBe(400);
      const tamperedUrl = new URL(link);
      for (const [name, value] of Object.entries(override))
        if (value === null) tamperedUrl.searchParams.delete(name);
        else tamperedUrl.searchParams.set(name, value);
      expect((await expectNoWrites(app.db, () => fetch(tamperedUrl))).status).toBe(400);
    }
    expect(alive('tamper@example.com')).toBe(true);
    expect(alive('tamper-other@example.com')).toBe(true);
  });

  it('refuses a POST without link fields or token: 400 page (415 for a body it does not read), nothing changes', async () => {
    const sub = await connect('anon@example.com');
    const bodies: Array<[Record<string, string>, string, number]> = [
      [{}, '', 400],
      [{ 'content-type': 'application/x-www-form-urlencoded' }, '', 400],
      [{ 'content-type': 'application/x-www-form-urlencoded' }, `u=${sub}`, 400],
      [{ 'content-type': 'application/json' }, JSON.stringify({ sub }), 400],
      [{ 'content-type': 'text/plain' }, `u=${sub}`, 415],
    ];
    for (const [headers, body, status] of bodies) {
      const response = await expectNoWrites(app.db, () =>
        fetch(app.urls.revoke, { method: 'POST', headers, body }),
      );
      expect(response.status, body).toBe(status);
      expect(response.headers.get('content-type')).toContain('text/html');
    }
    expect(alive('anon@example.com')).toBe(true);
  });
});

describe('server-to-server revoke', () => {
  it('refuses a missing, malformed, wrong-audience or unlisted ID token', async () => {
    const sub = await connect('api-refused@example.com');
    const cases: Array<[string, number, Record<string, string>]> = [
      ['garbage', 401, { authorization: 'Bearer not-a-jwt' }],
      ['basic', 401, { authorization: 'Basic dXNlcjpwYXNz' }],
      ['forged', 401, { authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.' }],
      [
        'wrong audience',
        401,
        { authorization: `Bearer ${callerToken(SERVICE_CALLER, 'https://other.example/')}` },
      ],
      [
        'unlisted account',
        403,
        {
          authorization: `Bearer ${callerToken('intruder@demo-consent-vault.iam.gserviceaccount.com')}`,
        },
      ],
    ];
    for (const [label, status, headers] of cases) {
      const response = await expectNoWrites(app.db, () =>
        fetch(app.urls.revoke, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: JSON.stringify({ sub }),
        }),
      );
      expect(response.status, label).toBe(status);
      const body = (await response.json()) as { error: string };
      expect(body.error).toBe(status === 401 ? 'unauthenticated' : 'forbidden');
    }
    expect(alive('api-refused@example.com')).toBe(true);
    expect((await connection(sub))?.state).toBe('active');
  });

  it('revokes with a valid token; unknown is 404; a second call is idempotent', async () => {
    const sub = await connect('api@example.com');
    const token = callerToken();
    const response = await postApi(sub, token);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ sub, status: 'revoked' });
    expect(alive('api@example.com')).toBe(false);
    expectRevokedShape(await connection(sub), sub);
    expect(await revocations(sub)).toMatchObject([
      { sub, via: 'api', actor: SERVICE_CALLER, googleResult: 'revoked' },
    ]);

    const again = await expectNoWrites(app.db, () => postApi(sub, token));
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ sub, status: 'already-revoked' });

    const unknown = await expectNoWrites(app.db, () => postApi('108888888888888888888', token));
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: 'not_found', sub: '108888888888888888888' });

    for (const bad of ['', '../x', 'a/b', 42, null, 'x'.repeat(300)]) {
      const response = await expectNoWrites(app.db, () => postApi(bad, token));
      expect(response.status, String(bad)).toBe(400);
    }
  });
});

describe('regression: reserved Firestore ids', () => {
  // Bug: isValidSub accepted `__x__`, which Firestore reserves; reading connections/__x__ threw
  // (found by properties.test.ts: a well-signed link for u=__a__ answered 500).
  it.each(['__a__', '__9-__Te__', '____'])('sub %s is a 400 for links and the API', async (sub) => {
    const link = await linkFor(sub);
    expect((await expectNoWrites(app.db, () => fetch(link))).status).toBe(400);
    expect((await expectNoWrites(app.db, () => postLink(link))).status).toBe(400);
    expect((await expectNoWrites(app.db, () => postApi(sub, callerToken()))).status).toBe(400);
  });
});

describe('stored ciphertext that does not open', () => {
  it('a tampered refresh token: decrypt fails, the revoke still deletes every token', async () => {
    const sub = await connect('flipped@example.com');
    const doc = (await connection(sub))!;
    const sealed = doc.refreshToken!;
    const index = sealed.length - 5;
    const flipped = `${sealed.slice(0, index)}${sealed[index] === 'A' ? 'B' : 'A'}${sealed.slice(index + 1)}`;
    await app.db.doc(`connections/${sub}`).update({ refreshToken: flipped });
    const keys = await app.runtime.keys('token');
    expect(() => openToken(keys, sub, 'refreshToken', flipped)).toThrow(decryptFailure);

    const response = await postLink(await linkFor(sub));
    expect(response.status).toBe(200);
    expectRevokedShape(await connection(sub), sub);
    expect(await revocations(sub)).toMatchObject([{ sub, googleResult: 'undecryptable' }]);
    // The grant could not be revoked at Google (we no longer hold a usable token).
    expect(alive('flipped@example.com')).toBe(true);
  });

  it("user A's sealed token copied into user B's document: B's revoke deletes B without touching A's grant", async () => {
    const subA = await connect('copy-a@example.com');
    const subB = await connect('copy-b@example.com');
    const docA = (await connection(subA))!;
    await app.db.doc(`connections/${subB}`).update({ refreshToken: docA.refreshToken });
    const keys = await app.runtime.keys('token');
    expect(() => openToken(keys, subB, 'refreshToken', docA.refreshToken!)).toThrow(decryptFailure);

    const revokesBefore = proxy.requests.length;
    const response = await postApi(subB, callerToken());
    expect(response.status).toBe(200);
    expect(proxy.requests.length).toBe(revokesBefore);
    expectRevokedShape(await connection(subB), subB);
    expect(await revocations(subB)).toMatchObject([{ sub: subB, googleResult: 'undecryptable' }]);
    expect(alive('copy-a@example.com')).toBe(true);
    expect(await connection(subA)).toEqual(docA);
  });
});

describe('Google revoke failing', () => {
  // revokeToken tries 3 times; one more failure than that keeps Google "down" for the whole call.
  const outage = { kind: 'status', status: 503, count: 4 } as const;

  it('API: 202 and revoke-pending without any access token; a later call completes it', async () => {
    const sub = await connect('pending-api@example.com');
    app.standIn.control.injectFault('revoke', outage);
    const response = await postApi(sub, callerToken());
    expect(response.status).toBe(202);
    expect(await response.json()).toEqual({ sub, status: 'pending' });
    const pending = (await connection(sub))!;
    expect(pending.state).toBe('revoke-pending');
    expect(pending.accessToken).toBeNull();
    expect(pending.accessTokenExpiresAt).toBeNull();
    expect(pending.refreshToken).toMatch(/^v1\./);
    expect(pending.revokePendingSince).toBeInstanceOf(Timestamp);
    // Only what the retry needs stays: the page says the connection is deleted.
    expect(pending.email).toBeNull();
    expect(pending.scopes).toEqual([]);
    expect(pending.connectedAt).toBeNull();
    expect(alive('pending-api@example.com')).toBe(true);
    expect(await revocations(sub)).toMatchObject([{ sub, googleResult: 'pending' }]);

    app.standIn.control.clearFaults('revoke');
    const retry = await postApi(sub, callerToken());
    expect(retry.status).toBe(200);
    expect(await retry.json()).toEqual({ sub, status: 'revoked' });
    expect(alive('pending-api@example.com')).toBe(false);
    expectRevokedShape(await connection(sub), sub);
  });

  it('link: pending page, and a second POST after the outage completes it', async () => {
    const sub = await connect('pending-link@example.com');
    const link = await linkFor(sub);
    app.standIn.control.injectFault('revoke', outage);
    const response = await postLink(link);
    expect(response.status).toBe(202);
    expect(await response.text()).toContain('will complete shortly');
    expect((await connection(sub))?.state).toBe('revoke-pending');
    expect((await connection(sub))?.accessToken).toBeNull();
    // The user still sees the form (the revocation is not finished) and can press it again.
    expect(await (await fetch(link)).text()).toContain('<form method="post"');

    app.standIn.control.clearFaults('revoke');
    const retry = await postLink(link);
    expect(retry.status).toBe(200);
    expect(await retry.text()).toContain('You are unsubscribed');
    expect(alive('pending-link@example.com')).toBe(false);
    expectRevokedShape(await connection(sub), sub);
  });
});

describe('logs', () => {
  it('hold no refresh token or ID token, and ERROR lines only for the undecryptable tokens', () => {
    const text = JSON.stringify(app.logs);
    for (const secret of app.standIn.control.issuedSecrets())
      if (secret.length >= 12) expect(text).not.toContain(secret);
    const errors = app.logs.filter((line) => line.severity === 'ERROR');
    expect(errors.map((line) => line.message)).toEqual([
      'stored refresh token cannot be decrypted; deleting it without revoking at Google',
      'stored refresh token cannot be decrypted; deleting it without revoking at Google',
    ]);
  });
});

import { createHash, createPublicKey, verify } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { GoogleStandIn } from './index.ts';
import {
  CLIENT,
  DRIVE_FILE_SCOPE,
  OTHER_CLIENT,
  refresh,
  signIn,
  startTestStandIn,
  str,
} from './test-helpers.ts';

// Written out here rather than imported, so a typo in the stand-in's constants fails a test.
const RISC_AUDIENCE =
  'https://risc.googleapis.com/google.identity.risc.v1beta.RiscManagementService';
const PUSH = 'https://schemas.openid.net/secevent/risc/delivery-method/push';
const TOKENS_REVOKED = 'https://schemas.openid.net/secevent/oauth/event-type/tokens-revoked';
const TOKEN_REVOKED = 'https://schemas.openid.net/secevent/oauth/event-type/token-revoked';
const ACCOUNT_DISABLED = 'https://schemas.openid.net/secevent/risc/event-type/account-disabled';
const ACCOUNT_ENABLED = 'https://schemas.openid.net/secevent/risc/event-type/account-enabled';
const VERIFICATION = 'https://schemas.openid.net/secevent/risc/event-type/verification';
const ALL_EVENTS = [
  TOKENS_REVOKED,
  TOKEN_REVOKED,
  ACCOUNT_DISABLED,
  ACCOUNT_ENABLED,
  'https://schemas.openid.net/secevent/risc/event-type/sessions-revoked',
  'https://schemas.openid.net/secevent/risc/event-type/account-credential-change-required',
  VERIFICATION,
];
const ADMIN = 'risc-admin@consent-vault.iam.gserviceaccount.com';

/** A tiny push receiver: records every request, answers with the queued statuses, then 202. */
interface Receiver {
  url: string;
  received: { method: string; headers: IncomingHttpHeaders; body: string }[];
  replies: number[];
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const received: Receiver['received'] = [];
  const replies: number[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        method: req.method ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      res.writeHead(replies.shift() ?? 202).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/risc`,
    received,
    replies,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let standIn: GoogleStandIn;
let receiver: Receiver;
beforeAll(async () => {
  [standIn, receiver] = await Promise.all([startTestStandIn(), startReceiver()]);
});
afterAll(async () => {
  await standIn.close();
  await receiver.close();
});
beforeEach(() => {
  standIn.control.reset();
  receiver.received.length = 0;
  receiver.replies.length = 0;
});

function adminToken(audience = RISC_AUDIENCE): string {
  return standIn.control.mintServiceAccountIdToken({ email: ADMIN, audience });
}

async function riscApi(
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  token: string | null = adminToken(),
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${standIn.endpoints.riscApiRoot}${path}`, {
    method,
    headers: {
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function registerStream(events: string[] = ALL_EVENTS): Promise<void> {
  const answer = await riscApi('POST', 'v1beta/stream:update', {
    delivery: { delivery_method: PUSH, url: receiver.url },
    events_requested: events,
  });
  expect(answer.status).toBe(200);
}

function decodePart(jwt: string, index: 0 | 1): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[index] ?? '', 'base64url').toString()) as Record<
    string,
    unknown
  >;
}

/** The one event of a SET: its type URI and body. */
function eventOf(set: string): [string, Record<string, unknown>] {
  const events = decodePart(set, 1)['events'] as Record<string, Record<string, unknown>>;
  const entries = Object.entries(events);
  expect(entries).toHaveLength(1);
  return entries[0] as [string, Record<string, unknown>];
}

async function jwks(): Promise<{ keys: Record<string, string>[] }> {
  const discovery = (await (await fetch(standIn.endpoints.riscConfigurationUrl)).json()) as {
    jwks_uri: string;
  };
  return (await (await fetch(discovery.jwks_uri)).json()) as { keys: Record<string, string>[] };
}

/** Plain node:crypto: RS256 over `header.payload` with the JWK the header's kid names. */
async function verifiesAgainstJwks(set: string): Promise<boolean> {
  const [h, p, s] = set.split('.');
  const header = decodePart(set, 0);
  const jwk = (await jwks()).keys.find((k) => k['kid'] === header['kid']);
  if (!jwk || header['alg'] !== 'RS256' || !s) return false;
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  return verify('sha256', Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url'));
}

const subOf = (email: string, clientId = CLIENT.clientId): string =>
  str(standIn.control.grants(email).find((g) => g.clientId === clientId)?.sub);

describe('RISC discovery and keys', () => {
  it('publishes the transmitter configuration with Google’s issuer form and push delivery', async () => {
    const res = await fetch(standIn.endpoints.riscConfigurationUrl);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as Record<string, unknown>;
    expect(doc).toEqual({
      issuer: 'https://accounts.google.com/',
      jwks_uri: standIn.endpoints.riscJwksUrl,
      delivery_methods_supported: [PUSH],
      add_subject_endpoint: `${standIn.endpoints.riscApiRoot}v1beta/subjects:add`,
      remove_subject_endpoint: `${standIn.endpoints.riscApiRoot}v1beta/subjects:remove`,
    });
    expect(standIn.endpoints.riscIssuer).toBe('https://accounts.google.com/');
    expect(standIn.endpoints.riscApiRoot.endsWith('/')).toBe(true);
  });

  it('serves RS256 signing keys in a JWKS, apart from the ID-token keys', async () => {
    const res = await fetch(standIn.endpoints.riscJwksUrl);
    expect(res.headers.get('cache-control')).toContain('max-age=');
    const { keys } = (await res.json()) as { keys: Record<string, string>[] };
    expect(keys).toHaveLength(2);
    for (const key of keys) expect(key).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig' });
    expect(keys[0]?.['kid']).toBe(standIn.control.riscSigningKey().kid);
    const idTokenKeys = (await (await fetch(standIn.endpoints.certsJwksUrl)).json()) as {
      keys: { kid: string }[];
    };
    const idKids = idTokenKeys.keys.map((k) => k.kid);
    expect(keys.some((k) => idKids.includes(str(k['kid'])))).toBe(false);
  });

  it('rotation: a new kid signs, the previous one stays published', async () => {
    const before = standIn.control.riscSigningKey().kid;
    const { kid, previousKid } = await standIn.control.rotateRiscKey();
    expect(previousKid).toBe(before);
    expect(kid).not.toBe(before);
    expect((await jwks()).keys.map((k) => k['kid'])).toEqual([kid, before]);
    const set = standIn.control.signSet(
      standIn.control.riscSetPayload({ clientId: CLIENT.clientId, type: 'verification' }),
    );
    expect(decodePart(set, 0)['kid']).toBe(kid);
    expect(await verifiesAgainstJwks(set)).toBe(true);
  });
});

describe('RISC push delivery', () => {
  it('revoking the app’s access pushes a signed tokens-revoked SET to the receiver', async () => {
    await registerStream();
    await signIn(standIn, { standin_user: 'ann@example.com' });
    const sub = subOf('ann@example.com');
    expect(standIn.control.revokeUserGrant('ann@example.com')).toBe(1);
    const [delivery] = await standIn.control.riscSettled();

    expect(receiver.received).toHaveLength(1);
    const request = receiver.received[0];
    expect(request?.method).toBe('POST');
    expect(request?.headers['content-type']).toBe('application/secevent+jwt');
    const set = str(request?.body);
    expect(set).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(decodePart(set, 0)).toEqual({
      alg: 'RS256',
      kid: standIn.control.riscSigningKey().kid,
      typ: 'secevent+jwt',
    });
    const claims = decodePart(set, 1);
    expect(claims).toMatchObject({ iss: 'https://accounts.google.com/', aud: CLIENT.clientId });
    expect(Math.abs(Number(claims['iat']) - Date.now() / 1000)).toBeLessThan(60);
    expect(str(claims['jti']).length).toBeGreaterThanOrEqual(16);
    expect(claims['exp']).toBeUndefined();
    expect(eventOf(set)).toEqual([
      TOKENS_REVOKED,
      { subject: { subject_type: 'iss-sub', iss: 'https://accounts.google.com/', sub } },
    ]);
    expect(await verifiesAgainstJwks(set)).toBe(true);
    expect(delivery).toMatchObject({
      event: 'tokens-revoked',
      eventType: TOKENS_REVOKED,
      clientId: CLIENT.clientId,
      sub,
      jti: claims['jti'],
      url: receiver.url,
      status: 202,
      attempts: 1,
      set,
    });
  });

  it('one SET per eligible client, each with its own aud and jti', async () => {
    await registerStream();
    await signIn(standIn, { standin_user: 'ann@example.com' });
    await signIn(standIn, { standin_user: 'ann@example.com', client_id: OTHER_CLIENT.clientId });
    const deliveries = await standIn.control.disableAccount({
      email: 'ann@example.com',
      reason: 'hijacking',
    });
    expect(deliveries.map((d) => d.clientId).sort()).toEqual(
      [CLIENT.clientId, OTHER_CLIENT.clientId].sort(),
    );
    expect(new Set(deliveries.map((d) => d.jti)).size).toBe(2);
    for (const d of deliveries) {
      expect(eventOf(d.set)).toEqual([
        ACCOUNT_DISABLED,
        {
          subject: { subject_type: 'iss-sub', iss: 'https://accounts.google.com/', sub: d.sub },
          reason: 'hijacking',
        },
      ]);
    }
  });

  it('users who granted neither email nor profile get no events', async () => {
    await registerStream();
    await signIn(standIn, { standin_user: 'ann@example.com' });
    await signIn(standIn, { standin_user: 'bob@example.com', scope: `openid ${DRIVE_FILE_SCOPE}` });
    standIn.control.revokeUserGrant('bob@example.com');
    expect(await standIn.control.riscSettled()).toEqual([]);
    standIn.control.revokeUserGrant('ann@example.com');
    expect((await standIn.control.riscSettled()).map((d) => d.sub)).toEqual([expect.any(String)]);
    expect(receiver.received).toHaveLength(1);
  });

  it('profile alone is enough', async () => {
    await registerStream();
    await signIn(standIn, { standin_user: 'cy@example.com', scope: 'openid profile' });
    expect(await standIn.control.disableAccount({ email: 'cy@example.com' })).toHaveLength(1);
  });

  it('only the event types the stream requested are sent', async () => {
    await registerStream([ACCOUNT_DISABLED, 'https://example.com/not-a-google-event']);
    await signIn(standIn, { standin_user: 'ann@example.com' });
    expect(
      await standIn.control.emitRiscEvent({ email: 'ann@example.com', type: 'sessions-revoked' }),
    ).toEqual([]);
    standIn.control.revokeUserGrant('ann@example.com');
    expect(await standIn.control.riscSettled()).toEqual([]);
    await signIn(standIn, { standin_user: 'ann@example.com' });
    const sent = await standIn.control.disableAccount({ email: 'ann@example.com' });
    expect(sent.map((d) => d.eventType)).toEqual([ACCOUNT_DISABLED]);
    // No reason given, none sent.
    expect(Object.keys(eventOf(str(sent[0]?.set))[1])).toEqual(['subject']);
    expect(receiver.received).toHaveLength(1);
  });

  it('a disabled stream sends nothing; enabled again, it sends', async () => {
    await registerStream();
    await signIn(standIn, { standin_user: 'ann@example.com' });
    const off = await riscApi('POST', 'v1beta/stream/status:update', { status: 'disabled' });
    expect(off).toEqual({ status: 200, json: { status: 'disabled' } });
    expect((await riscApi('GET', 'v1beta/stream/status')).json).toEqual({ status: 'disabled' });
    expect(await standIn.control.disableAccount({ email: 'ann@example.com' })).toEqual([]);
    await riscApi('POST', 'v1beta/stream/status:update', { status: 'enabled' });
    expect(await standIn.control.enableAccount({ email: 'ann@example.com' })).toHaveLength(1);
    expect(receiver.received.map((r) => eventOf(r.body)[0])).toEqual([ACCOUNT_ENABLED]);
  });

  it('nothing is sent before a stream is registered', async () => {
    await signIn(standIn, { standin_user: 'ann@example.com' });
    expect(await standIn.control.disableAccount({ email: 'ann@example.com' })).toEqual([]);
    expect(receiver.received).toHaveLength(0);
  });

  it('retries once after a 5xx or no answer, never after a 4xx', async () => {
    await registerStream();
    await signIn(standIn, { standin_user: 'ann@example.com' });
    receiver.replies.push(503);
    const [retried] = await standIn.control.emitRiscEvent({
      email: 'ann@example.com',
      type: 'sessions-revoked',
    });
    expect(retried).toMatchObject({ status: 202, attempts: 2 });
    expect(receiver.received[0]?.body).toBe(receiver.received[1]?.body);

    receiver.replies.push(400);
    const [refused] = await standIn.control.emitRiscEvent({
      email: 'ann@example.com',
      type: 'sessions-revoked',
    });
    expect(refused).toMatchObject({ status: 400, attempts: 1 });
    expect(receiver.received).toHaveLength(3);

    receiver.replies.push(500, 500);
    const [failed] = await standIn.control.emitRiscEvent({
      email: 'ann@example.com',
      type: 'account-credential-change-required',
    });
    expect(failed).toMatchObject({ status: 500, attempts: 2 });
    expect(standIn.control.riscDeliveries().map((d) => [d.status, d.attempts])).toEqual([
      [202, 2],
      [400, 1],
      [500, 2],
    ]);
  });

  it('a receiver that does not answer is recorded with status 0, after one retry', async () => {
    const gone = await startReceiver();
    await gone.close();
    const answer = await riscApi('POST', 'v1beta/stream:update', {
      delivery: { delivery_method: PUSH, url: gone.url },
      events_requested: ALL_EVENTS,
    });
    expect(answer.status).toBe(200);
    await signIn(standIn, { standin_user: 'ann@example.com' });
    const [lost] = await standIn.control.disableAccount({ email: 'ann@example.com' });
    expect(lost).toMatchObject({ status: 0, attempts: 2, url: gone.url });
  });

  it('disableAccount refuses the account’s tokens until enableAccount', async () => {
    const tokens = await signIn(standIn, { standin_user: 'ann@example.com' });
    await standIn.control.disableAccount({ email: 'ann@example.com', reason: 'bulk-account' });
    const refused = await refresh(standIn, str(tokens['refresh_token']));
    expect(refused.status).toBe(400);
    expect(refused.json['error']).toBe('invalid_grant');
    await standIn.control.enableAccount({ email: 'ann@example.com' });
    expect((await refresh(standIn, str(tokens['refresh_token']))).status).toBe(200);
  });
});

describe('token-revoked', () => {
  it('names the refresh token by base64(SHA-512(SHA-512(token)))', async () => {
    await registerStream();
    const tokens = await signIn(standIn, { standin_user: 'ann@example.com' });
    const refreshToken = str(tokens['refresh_token']);
    const [delivery] = await standIn.control.emitRiscEvent({
      email: 'ann@example.com',
      type: 'token-revoked',
      refreshToken,
    });
    const inner = createHash('sha512').update(refreshToken).digest();
    const expected = createHash('sha512').update(inner).digest('base64');
    expect(eventOf(str(delivery?.set))).toEqual([
      TOKEN_REVOKED,
      {
        subject: {
          subject_type: 'oauth_token',
          token_type: 'refresh_token',
          token_identifier_alg: 'hash_base64_sha512_sha512',
          token: expected,
        },
      },
    ]);
    // Hashing the hex of the inner digest would be a different value.
    const hexVariant = createHash('sha512')
      .update(createHash('sha512').update(refreshToken).digest('hex'))
      .digest('base64');
    expect(expected).not.toBe(hexVariant);
    expect(delivery).toMatchObject({ clientId: CLIENT.clientId, sub: subOf('ann@example.com') });
  });

  it('prefix: the first 16 characters', async () => {
    await registerStream();
    const tokens = await signIn(standIn, { standin_user: 'ann@example.com' });
    const refreshToken = str(tokens['refresh_token']);
    const [delivery] = await standIn.control.emitRiscEvent({
      email: 'ann@example.com',
      type: 'token-revoked',
      refreshToken,
      tokenIdentifierAlg: 'prefix',
    });
    const subject = eventOf(str(delivery?.set))[1]['subject'] as Record<string, string>;
    expect(subject['token_identifier_alg']).toBe('prefix');
    expect(subject['token']).toBe(refreshToken.slice(0, 16));
  });

  it('a token no grant of the user holds needs a clientId', async () => {
    await registerStream();
    await signIn(standIn, { standin_user: 'ann@example.com' });
    await expect(
      standIn.control.emitRiscEvent({
        email: 'ann@example.com',
        type: 'token-revoked',
        refreshToken: '1//0unknown',
      }),
    ).rejects.toThrow(RangeError);
  });
});

describe('stream management API', () => {
  it('stream:update stores the stream; GET stream returns it', async () => {
    expect((await riscApi('GET', 'v1beta/stream')).status).toBe(404);
    await registerStream([TOKENS_REVOKED, VERIFICATION]);
    expect(await riscApi('GET', 'v1beta/stream')).toEqual({
      status: 200,
      json: {
        delivery: { delivery_method: PUSH, url: receiver.url },
        events_requested: [TOKENS_REVOKED, VERIFICATION],
      },
    });
    expect((await riscApi('GET', 'v1beta/stream/status')).json).toEqual({ status: 'enabled' });
  });

  it('stream:verify pushes a verification SET with the state', async () => {
    await registerStream();
    const answer = await riscApi('POST', 'v1beta/stream:verify', { state: 'ping-42' });
    expect(answer).toEqual({ status: 200, json: {} });
    const [delivery] = await standIn.control.riscSettled();
    expect(delivery).toMatchObject({ event: 'verification', sub: undefined, status: 202 });
    const set = str(receiver.received[0]?.body);
    expect(eventOf(set)).toEqual([VERIFICATION, { state: 'ping-42' }]);
    expect(decodePart(set, 1)).toMatchObject({
      iss: 'https://accounts.google.com/',
      aud: CLIENT.clientId,
    });
    expect(await verifiesAgainstJwks(set)).toBe(true);
  });

  it('stream:verify sends nothing when verification was not requested', async () => {
    await registerStream([TOKENS_REVOKED]);
    expect((await riscApi('POST', 'v1beta/stream:verify', { state: 's' })).status).toBe(200);
    expect(await standIn.control.riscSettled()).toEqual([]);
  });

  it('refuses callers without the service-account JWT for the RISC API', async () => {
    const path = 'v1beta/stream';
    const missing = await riscApi('GET', path, undefined, null);
    expect(missing.status).toBe(401);
    expect(missing.json['error']).toMatchObject({ code: 401, status: 'UNAUTHENTICATED' });
    expect((await riscApi('GET', path, undefined, 'not-a-token')).status).toBe(401);
    const otherAudience = adminToken('https://consent-vault.example.com/tick');
    expect((await riscApi('GET', path, undefined, otherAudience)).status).toBe(401);
    const [header, payload] = adminToken().split('.');
    const forged = `${header}.${payload}.AAAA`;
    expect((await riscApi('GET', path, undefined, forged)).status).toBe(401);
    const userToken = str((await signIn(standIn))['access_token']);
    const user = await riscApi('POST', 'v1beta/stream:verify', { state: 's' }, userToken);
    expect(user.status).toBe(403);
    expect(user.json['error']).toMatchObject({ code: 403, status: 'PERMISSION_DENIED' });
    expect((await riscApi('GET', path)).status).toBe(404); // authorised: no stream yet
  });

  it('rejects unknown fields, other delivery methods and plain-HTTP remote receivers', async () => {
    const update = (body: unknown): Promise<{ status: number; json: Record<string, unknown> }> =>
      riscApi('POST', 'v1beta/stream:update', body);
    const unknown = await update({
      delivery: { delivery_method: PUSH, url: receiver.url },
      status: 'enabled',
    });
    expect(unknown.status).toBe(400);
    expect(unknown.json['error']).toMatchObject({ status: 'INVALID_ARGUMENT' });
    expect(
      (await update({ delivery: { delivery_method: 'poll', url: receiver.url } })).status,
    ).toBe(400);
    expect(
      (await update({ delivery: { delivery_method: PUSH, url: 'http://example.com/risc' } }))
        .status,
    ).toBe(400);
    expect(
      (await update({ delivery: { delivery_method: PUSH, url: 'https://example.com/risc' } }))
        .status,
    ).toBe(200);
  });
});

describe('forged SETs for receiver tests', () => {
  it('signSet: stand-in key verifies; a foreign key or none does not', async () => {
    const payload = standIn.control.riscSetPayload({
      clientId: CLIENT.clientId,
      type: 'account-disabled',
      email: 'ann@example.com',
      reason: 'hijacking',
    });
    expect(await verifiesAgainstJwks(standIn.control.signSet(payload))).toBe(true);
    const foreign = standIn.control.signSet(payload, { key: 'foreign' });
    expect(decodePart(foreign, 0)['kid']).toBe(standIn.control.riscSigningKey().kid);
    expect(await verifiesAgainstJwks(foreign)).toBe(false);
    const unknownKid = standIn.control.signSet(payload, { kid: 'no-such-kid' });
    expect(await verifiesAgainstJwks(unknownKid)).toBe(false);
    const unsigned = standIn.control.signSet(payload, { key: 'none' });
    expect(decodePart(unsigned, 0)['alg']).toBe('none');
    expect(unsigned.endsWith('.')).toBe(true);
  });

  it('deliverSet pushes a SET as given, e.g. a replay', async () => {
    await registerStream();
    await signIn(standIn, { standin_user: 'ann@example.com' });
    const [first] = await standIn.control.disableAccount({ email: 'ann@example.com' });
    const replay = await standIn.control.deliverSet(str(first?.set));
    expect(replay).toMatchObject({ jti: first?.jti, event: 'account-disabled', status: 202 });
    expect(receiver.received.map((r) => r.body)).toEqual([first?.set, first?.set]);
  });
});

describe('HTTP control routes', () => {
  async function control(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; json: Record<string, unknown> }> {
    const res = await fetch(`${standIn.url}/__control/${path}`, {
      method,
      ...(body === undefined
        ? {}
        : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  }

  it('disable, emit, enable and deliveries answer once the pushes are done', async () => {
    await registerStream();
    await signIn(standIn, { standin_user: 'ann@example.com' });
    const disabled = await control('POST', 'risc/disable', {
      email: 'ann@example.com',
      reason: 'hijacking',
    });
    expect(disabled.status).toBe(200);
    expect(disabled.json['deliveries']).toMatchObject([{ event: 'account-disabled', status: 202 }]);
    const emitted = await control('POST', 'risc/emit', {
      email: 'ann@example.com',
      type: 'sessions-revoked',
    });
    expect(emitted.json['deliveries']).toMatchObject([{ event: 'sessions-revoked' }]);
    await control('POST', 'risc/enable', { email: 'ann@example.com' });
    const all = await control('GET', 'risc/deliveries');
    expect((all.json['deliveries'] as { event: string }[]).map((d) => d.event)).toEqual([
      'account-disabled',
      'sessions-revoked',
      'account-enabled',
    ]);
    expect((await control('POST', 'risc/emit', { email: 'a@b.c', type: 'nope' })).status).toBe(400);
    const rotated = await control('POST', 'risc/rotate-key');
    expect(rotated.json['kid']).toBe(standIn.control.riscSigningKey().kid);
  });
});

// Property-based tests (the consent-flow issue: "throw random query strings, cookies and bodies at
// the three functions: never a 5xx, never a write"). Most cases go through the deployed Handler
// directly (after the real adapter's body rules and request translation), a few hundred per function
// through the real functions-framework server over keep-alive HTTP. Inputs mix pure noise with
// valid-looking parts: OAuth callback parameters, signed unsubscribe-link fields, sealed
// transaction cookies (ours, another keyset's, and ones whose state matches the query),
// Google-signed ID tokens for the right and wrong audiences, form, JSON and garbage bodies.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeysetJson, parseKeyset, type PurposeKeys } from '../../shared/crypto/keyset.ts';
import { toHttpRequest } from '../../shared/platform/http-adapter.ts';
import { judgeBody } from '../../shared/platform/request-body.ts';
import { REQUEST_BODIES } from '../../shared/web/bodies.ts';
import { authorizeHandler } from '../../shared/flows/authorize.ts';
import { callbackHandler } from '../../shared/flows/callback.ts';
import { revokeHandler } from '../../shared/flows/revoke.ts';
import type { Handler } from '../../shared/web/http.ts';
import { sealTransaction, transactionCookieName } from '../../shared/oauth/transaction.ts';
import { createUnsubscribeLink } from '../../shared/web/unsubscribe-link.ts';
import { SERVICE_CALLER, databaseState, startTestApp, type TestApp } from '../support/app.ts';
import { UserAgent } from '../support/user-agent.ts';

const FUNCTIONS = ['authorize', 'callback', 'revoke'] as const;
type FunctionName = (typeof FUNCTIONS)[number];
/** Per function: 3,000 straight through the Handler + 400 over HTTP = 3,400; 10,200 in all. */
const DIRECT_RUNS = 3000;
const HTTP_RUNS = 400;

interface Attack {
  readonly method: string;
  /** Path and query exactly as sent on the request line. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer | undefined;
}

interface Material {
  readonly cookieKeys: PurposeKeys;
  readonly foreignCookieKeys: PurposeKeys;
  readonly linkKeys: PurposeKeys;
  readonly foreignLinkKeys: PurposeKeys;
  readonly revokeUrl: string;
  readonly seededSub: string;
  readonly idTokens: readonly string[];
}

let app: TestApp;
let material: Material;
let handlers: Record<FunctionName, Handler>;
let stateAfterSeeding: string;
const cases: Record<FunctionName, number> = { authorize: 0, callback: 0, revoke: 0 };
const statuses: Record<FunctionName, Set<number>> = {
  authorize: new Set(),
  callback: new Set(),
  revoke: new Set(),
};

beforeAll(async () => {
  app = await startTestApp({ LOG_LEVEL: 'INFO' });
  // One real connection, so "nothing written" also means "nothing changed or lost".
  await new UserAgent().connect(app.urls.authorize, { email: 'seeded@example.com' });
  const seededSub = app.standIn.control.grants('seeded@example.com')[0]!.sub;
  const foreign = parseKeyset(generateKeysetJson('k1'));
  const revokeUrl = app.runtime.config.revokeUrl;
  const mint = (email: string, audience: string) =>
    app.standIn.control.mintServiceAccountIdToken({ email, audience });
  material = {
    cookieKeys: await app.runtime.keys('cookie'),
    foreignCookieKeys: foreign.forPurpose('cookie'),
    linkKeys: await app.runtime.keys('link'),
    foreignLinkKeys: foreign.forPurpose('link'),
    revokeUrl,
    seededSub,
    idTokens: [
      mint(SERVICE_CALLER, revokeUrl),
      mint(SERVICE_CALLER, 'https://other.example/'),
      mint('stranger@demo-consent-vault.iam.gserviceaccount.com', revokeUrl),
    ],
  };
  handlers = {
    authorize: authorizeHandler(app.runtime),
    callback: callbackHandler(app.runtime),
    revoke: revokeHandler(app.runtime),
  };
  stateAfterSeeding = await databaseState(app.db);
});

afterAll(async () => {
  await app?.close();
});

// ---------------------------------------------------------------------------------------------
// Generators

const TRICKY = [
  '',
  '%',
  '%zz',
  '%00',
  '%ff%fe',
  '%E0%A4%A',
  '%C0%AF',
  '..%2F..',
  '//evil.example',
  '__proto__',
  'constructor',
  'null',
  'undefined',
  '[]',
  '{}',
  'https://accounts.google.com',
  'accounts.google.com',
  'https://evil.example',
  'access_denied',
  'consent_required',
  'http://localhost:5000/welcome',
  'ann@example.com',
  'k1',
  'k2',
  '4%2F0AeaYSHB',
  'v1.k1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA',
];

/** Percent-encodes every byte outside the unreserved set (lone surrogates become U+FFFD). */
function pct(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8'))
    out += /[\w.~-]/.test(String.fromCharCode(byte))
      ? String.fromCharCode(byte)
      : `%${byte.toString(16).padStart(2, '0').toUpperCase()}`;
  return out;
}

const b64url = (min: number, max: number) =>
  fc.stringMatching(new RegExp(`^[A-Za-z0-9_-]{${min},${max}}$`));

function textArb(maxBig: number): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 40 }) },
    { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
    { weight: 4, arbitrary: fc.constantFrom(...TRICKY) },
    { weight: 2, arbitrary: b64url(1, 80) },
    { weight: 1, arbitrary: fc.stringMatching(/^4\/0[A-Za-z0-9_-]{10,60}$/) },
    { weight: 1, arbitrary: fc.stringMatching(/^[0-9]{1,21}$/) },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: Math.min(300, maxBig), max: maxBig })
        .chain((length) => fc.constantFrom('a', '%', '\u0000', 'é').map((c) => c.repeat(length))),
    },
  );
}

const PARAM_NAMES = [
  'state',
  'code',
  'iss',
  'error',
  'scope',
  'authuser',
  'prompt',
  'return_to',
  'login_hint',
  'u',
  'e',
  'k',
  's',
  'sub',
];

type Pairs = Array<[string, string]>;

function pairsArb(maxBig: number): fc.Arbitrary<Pairs> {
  const name = fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom(...PARAM_NAMES) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 10 }) },
  );
  return fc.array(fc.tuple(name, textArb(maxBig)), { maxLength: 8 });
}

/** A well-signed (or nearly) unsubscribe link for a user who is never the seeded one. */
function linkPairsArb(): fc.Arbitrary<Pairs> {
  return fc
    .record({
      sub: fc.oneof(
        fc.stringMatching(/^1[0-9]{20}$/),
        fc.constant(material.seededSub),
        fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/),
        // Firestore reserves `__.*__` ids (found by this test: they once answered 500).
        fc.stringMatching(/^__[A-Za-z0-9_-]{0,10}__$/),
      ),
      expiresInS: fc.oneof(
        fc.integer({ min: -86400, max: -1 }),
        fc.integer({ min: 1, max: 86400 * 60 }),
      ),
      foreign: fc.constantFrom(false, false, true),
      tamper: fc.constantFrom('none', 'none', 'none', 's', 'u', 'e', 'k'),
    })
    .map(({ sub, expiresInS, foreign, tamper }) => {
      // A valid link of the seeded user must not be POSTed (that is a legitimate revoke).
      const mustTamper = sub === material.seededSub && !foreign && tamper === 'none';
      const keys = foreign ? material.foreignLinkKeys : material.linkKeys;
      const link = new URL(
        createUnsubscribeLink(keys, material.revokeUrl, sub, Date.now() + expiresInS * 1000),
      );
      const pairs = [...link.searchParams] as Pairs;
      const field = mustTamper ? 's' : tamper;
      if (field === 'none') return pairs;
      return pairs.map(([name, value]): [string, string] =>
        name === field
          ? [name, `${value.slice(0, -1)}${value.endsWith('A') ? 'B' : 'A'}`]
          : [name, value],
      );
    });
}

interface CookiePlan {
  readonly cookie: string | undefined;
  /** Query pairs that go with it (e.g. the transaction's own state). */
  readonly pairs: Pairs;
}

function cookieArb(ascii: boolean): fc.Arbitrary<CookiePlan> {
  const noise = ascii
    ? fc.string({ unit: 'grapheme-ascii', maxLength: 60 })
    : fc.string({ unit: 'binary', maxLength: 60 });
  const sealedShape = fc
    .tuple(b64url(0, 24), b64url(0, 200), fc.constantFrom('k1', 'k2', '__proto__', ''))
    .map(([iv, body, keyId]) => `v1.${keyId}.${iv}.${body}`);
  const transaction = fc
    .record({
      state: b64url(1, 60),
      foreign: fc.constantFrom(false, false, false, true),
      expiresInS: fc.integer({ min: -900, max: 3600 }),
      sendState: fc.constantFrom('same', 'same', 'same', 'other', 'none'),
      // What Google would append: a well-formed but unknown code, its issuer, or an error.
      answer: fc.oneof(
        {
          weight: 3,
          arbitrary: fc
            .tuple(
              fc.stringMatching(/^4\/0[A-Za-z0-9_-]{20,80}$/),
              fc.constantFrom('https://accounts.google.com', 'accounts.google.com', null),
            )
            .map(([code, iss]): Pairs =>
              iss === null
                ? [['code', code]]
                : [
                    ['code', code],
                    ['iss', iss],
                  ],
            ),
        },
        {
          weight: 1,
          arbitrary: fc.constantFrom<Pairs>(
            [['error', 'access_denied']],
            [['error', 'server_error']],
            [],
          ),
        },
      ),
      promptedConsent: fc.boolean(),
      returnTo: fc.option(
        fc.constantFrom('http://localhost:5000/welcome', 'https://evil.example/'),
      ),
    })
    .map((t): CookiePlan => {
      const keys = t.foreign ? material.foreignCookieKeys : material.cookieKeys;
      const sealed = sealTransaction(keys, {
        state: t.state,
        codeVerifier: 'v'.repeat(43),
        nonce: 'n'.repeat(43),
        returnTo: t.returnTo,
        expiresAt: Date.now() + t.expiresInS * 1000,
        promptedConsent: t.promptedConsent,
        loginHint: null,
        connect: null,
      });
      const pairs: Pairs =
        t.sendState === 'same'
          ? [['state', t.state]]
          : t.sendState === 'other'
            ? [['state', `${t.state}x`]]
            : [];
      return {
        cookie: `${transactionCookieName(t.state)}=${sealed}`,
        pairs: [...pairs, ...t.answer],
      };
    });
  const plain = fc
    .tuple(
      fc.oneof(noise, sealedShape),
      fc.array(fc.tuple(fc.stringMatching(/^[\w-]{1,12}$/), noise), { maxLength: 3 }),
    )
    .map(([value, others]): CookiePlan => {
      const parts = [
        `${transactionCookieName('noise')}=${value}`,
        ...others.map(([n, v]) => `${n}=${v}`),
      ];
      return { cookie: parts.join('; '), pairs: [] };
    });
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant<CookiePlan>({ cookie: undefined, pairs: [] }) },
    { weight: 2, arbitrary: plain },
    { weight: 1, arbitrary: noise.map((cookie): CookiePlan => ({ cookie, pairs: [] })) },
    { weight: 3, arbitrary: transaction },
  );
}

function authorizationArb(): fc.Arbitrary<string | undefined> {
  return fc.oneof(
    { weight: 8, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 60 }) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(b64url(1, 40), b64url(1, 80), b64url(0, 40))
        .map(([a, b, c]) => `Bearer ${a}.${b}.${c}`),
    },
    {
      weight: 2,
      arbitrary: fc.constantFrom(...material.idTokens).map((token) => `Bearer ${token}`),
    },
  );
}

type BodyPlan = { type: string | undefined; body: Buffer | undefined };

function bodyArb(maxBig: number): fc.Arbitrary<BodyPlan> {
  const form = fc
    .tuple(fc.oneof(pairsArb(maxBig), linkPairsArb()), pairsArb(200))
    .map(([a, b]) => Buffer.from([...a, ...b].map(([n, v]) => `${pct(n)}=${pct(v)}`).join('&')));
  const rawForm = fc
    .string({ unit: 'binary', maxLength: 200 })
    .map((text) => Buffer.from(text, 'utf8'));
  const subJson = fc
    .oneof(
      fc.stringMatching(/^1[0-9]{20}$/).filter((sub) => sub !== material.seededSub),
      fc.jsonValue({ maxDepth: 2 }),
    )
    .map((sub) => Buffer.from(JSON.stringify({ sub })));
  const anyJson = fc.jsonValue({ maxDepth: 4 }).map((value) => Buffer.from(JSON.stringify(value)));
  const garbage = fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes));
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant<BodyPlan>({ type: undefined, body: undefined }) },
    {
      weight: 3,
      arbitrary: fc
        .oneof(form, rawForm)
        .map((body): BodyPlan => ({ type: 'application/x-www-form-urlencoded', body })),
    },
    {
      weight: 3,
      arbitrary: fc
        .oneof(subJson, anyJson, garbage)
        .map((body): BodyPlan => ({ type: 'application/json', body })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.constantFrom(
            'text/plain',
            'application/octet-stream',
            'multipart/form-data; boundary=x',
            'application/x-www-form-urlencoded; charset=utf-16',
            'APPLICATION/JSON',
          ),
          fc.oneof(garbage, form, anyJson),
        )
        .map(([type, body]): BodyPlan => ({ type, body })),
    },
  );
}

function attackArb(mode: 'direct' | 'http'): fc.Arbitrary<Attack> {
  // Node's HTTP server refuses request heads above 16 KB: stay under it over HTTP; the Handler
  // path takes the 100 KB values.
  const maxBig = mode === 'direct' ? 100 * 1024 : 4000;
  const methods =
    mode === 'direct'
      ? fc.oneof(
          { weight: 6, arbitrary: fc.constantFrom('GET', 'GET', 'POST', 'HEAD') },
          {
            weight: 1,
            arbitrary: fc.constantFrom('PUT', 'DELETE', 'PATCH', 'OPTIONS', 'get', 'TRACE', ''),
          },
        )
      : fc.oneof(
          { weight: 6, arbitrary: fc.constantFrom('GET', 'GET', 'POST', 'HEAD') },
          { weight: 1, arbitrary: fc.constantFrom('PUT', 'DELETE', 'PATCH', 'OPTIONS') },
        );
  return fc
    .record({
      method: methods,
      pairs: fc.oneof(pairsArb(maxBig), linkPairsArb()),
      encodeRaw: fc.boolean(),
      path: fc.constantFrom('/', '/', '/', '/connected', '//x', '/a/../connected', '/%2e%2e/'),
      cookie: cookieArb(mode === 'http'),
      authorization: authorizationArb(),
      body: bodyArb(mode === 'direct' ? maxBig : 12_000),
    })
    .map(({ method, pairs, encodeRaw, path, cookie, authorization, body }): Attack => {
      const all = [...cookie.pairs, ...pairs];
      // Raw mode keeps printable values as they are ('%zz', '&', '=' and all): broken encodings.
      const encode = (value: string) =>
        encodeRaw && /^[\x21-\x7e]*$/.test(value) && !value.includes('#') ? value : pct(value);
      const query = all.map(([n, v]) => `${encode(n)}=${encode(v)}`).join('&');
      const headers: Record<string, string> = {};
      if (cookie.cookie !== undefined) headers.cookie = cookie.cookie;
      if (authorization !== undefined) headers.authorization = authorization;
      const hasBody = method !== 'GET' && method !== 'HEAD' && body.body !== undefined;
      if (hasBody && body.type !== undefined) headers['content-type'] = body.type;
      return {
        method,
        path: query === '' ? path : `${path}?${query}`,
        headers,
        body: hasBody ? body.body : undefined,
      };
    });
}

// ---------------------------------------------------------------------------------------------
// Drivers

/** What the request listener hands the flow: the body judged by its rules, the request translated. */
async function sendDirect(name: FunctionName, attack: Attack): Promise<number> {
  const headers: Record<string, string> = { ...attack.headers };
  const read = judgeBody(headers, REQUEST_BODIES[name][attack.method], attack.body);
  if (read.kind === 'gone') throw new Error('a body in memory cannot be gone');
  const response = await handlers[name](
    toHttpRequest({ method: attack.method, target: attack.path, headers }, read),
  );
  expect(response.headers['cache-control']).toBe('no-store');
  return response.status;
}

async function sendHttp(name: FunctionName, attack: Attack, retried = false): Promise<number> {
  const base = new URL(app.urls[name]);
  let response: Response;
  try {
    response = await fetch(`${base.origin}${attack.path}`, {
      method: attack.method,
      headers: attack.headers,
      ...(attack.body === undefined ? {} : { body: attack.body }),
      redirect: 'manual',
    });
  } catch (error) {
    // A keep-alive socket the server closed while idle (its keepAliveTimeout ran out during the
    // Handler phase) resets on reuse and fetch does not retry a POST. One retry on a fresh socket;
    // a server that really drops the request fails twice.
    const code = (error as { cause?: { code?: unknown } }).cause?.code;
    if (!retried && (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET'))
      return sendHttp(name, attack, true);
    throw error;
  }
  await response.arrayBuffer();
  return response.status;
}

/**
 * A fixed seed by default: CI sees the same 10,200 cases every run, so the coverage check below
 * is stable and any failure reproduces. FC_SEED=<n> explores other inputs.
 */
const SEED = Number(process.env.FC_SEED ?? 20261122);

async function examine(name: FunctionName, mode: 'direct' | 'http', runs: number): Promise<void> {
  const seed = SEED + FUNCTIONS.indexOf(name) * 2 + (mode === 'http' ? 1 : 0);
  await fc.assert(
    fc.asyncProperty(attackArb(mode), async (attack) => {
      cases[name] += 1;
      const status = await (mode === 'direct' ? sendDirect(name, attack) : sendHttp(name, attack));
      statuses[name].add(status);
      expect(status, `${attack.method} ${attack.path.slice(0, 200)}`).toBeLessThan(500);
      expect(status).toBeGreaterThanOrEqual(200);
    }),
    { numRuns: runs, seed },
  );
}

describe.each(FUNCTIONS)('%s under random input', (name) => {
  it(`never answers 5xx: ${DIRECT_RUNS} requests through the Handler`, async () => {
    await examine(name, 'direct', DIRECT_RUNS);
  });

  it(`never answers 5xx: ${HTTP_RUNS} requests through the functions-framework server`, async () => {
    await examine(name, 'http', HTTP_RUNS);
  });
});

describe('after all random input', () => {
  it('ran at least 3,400 cases per function', () => {
    for (const name of FUNCTIONS)
      expect(cases[name], name).toBeGreaterThanOrEqual(DIRECT_RUNS + HTTP_RUNS);
  });

  it('reached the deep paths, not only the first check', () => {
    // Sealed transactions with their own state reached Google's token endpoint.
    const stats = app.standIn.control.stats();
    expect(stats.token?.requests ?? 0).toBeGreaterThan(50);
    // ID tokens were verified against Google's certificates many times (403: well signed, but
    // not an allow-listed caller), and those certificates were fetched once per instance client,
    // as their max-age allows, not once per request.
    const forbidden = app.logs.filter((line) => line.code === 'forbidden').length;
    expect(forbidden).toBeGreaterThan(20);
    expect(stats.certs?.requests ?? 0).toBeGreaterThanOrEqual(1);
    expect(stats.certs?.requests ?? 0).toBeLessThanOrEqual(2);
    expect([...statuses.authorize]).toEqual(expect.arrayContaining([302, 400, 405]));
    // 403: access_denied with a valid transaction; 400: refused codes, bad state.
    expect([...statuses.callback]).toEqual(expect.arrayContaining([200, 400, 403, 405]));
    // 200 confirm/neutral pages, 404 unknown user (API), 401/403 callers, 410 expired links.
    expect([...statuses.revoke]).toEqual(expect.arrayContaining([200, 400, 401, 403, 404, 410]));
  });

  it('wrote nothing: connections and revocations are exactly as seeded', async () => {
    expect(await databaseState(app.db)).toBe(stateAfterSeeding);
    const seeded = await app.db.doc(`connections/${material.seededSub}`).get();
    expect(seeded.get('state')).toBe('active');
    expect(app.standIn.control.grants('seeded@example.com')).toHaveLength(1);
  });

  it('logged no ERROR line and no issued secret', () => {
    expect(app.logs.filter((line) => line.severity === 'ERROR')).toEqual([]);
    const text = JSON.stringify(app.logs);
    for (const secret of app.standIn.control.issuedSecrets())
      if (secret.length >= 12) expect(text).not.toContain(secret);
  });
});

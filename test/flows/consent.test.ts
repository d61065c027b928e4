import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTransactionCookie, transactionCookieName } from '../../shared/oauth/transaction.ts';
import { openToken, type StoredConnection } from '../../shared/store/connection/document.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { UserAgent } from '../support/user-agent.ts';

const DRIVE = 'https://www.googleapis.com/auth/drive.file';
let app: TestApp;

beforeAll(async () => {
  app = await startTestApp();
});
afterAll(async () => {
  await app?.close();
});

async function connection(sub: string): Promise<StoredConnection | undefined> {
  const snapshot = await app.db.doc(`connections/${sub}`).get();
  return snapshot.data() as StoredConnection | undefined;
}

function subOf(email: string): string {
  const grant = app.standIn.control.grants(email)[0];
  if (!grant) throw new Error(`no grant for ${email}`);
  return grant.sub;
}

describe('consent flow', () => {
  it('authorize sends the browser to Google with offline access, PKCE S256, state and nonce', async () => {
    const agent = new UserAgent();
    const hop = await agent.request(`${app.urls.authorize}?login_hint=ann%40example.com`);
    expect(hop.status).toBe(302);
    const location = new URL(hop.location!);
    expect(`${location.origin}${location.pathname}`).toBe(app.standIn.endpoints.authUrl);
    const params = location.searchParams;
    expect(params.get('client_id')).toBe(app.env.OAUTH_CLIENT_ID);
    expect(params.get('redirect_uri')).toBe(app.urls.callback);
    expect(params.get('response_type')).toBe('code');
    expect(params.get('scope')!.split(' ')).toEqual(['openid', 'email', DRIVE]);
    expect(params.get('access_type')).toBe('offline');
    expect(params.get('include_granted_scopes')).toBe('true');
    expect(params.get('code_challenge_method')).toBe('S256');
    expect(params.get('code_challenge')).toMatch(/^[\w-]{43}$/);
    expect(Buffer.from(params.get('state')!, 'base64url').length).toBeGreaterThanOrEqual(16);
    expect(params.get('nonce')).toMatch(/^[\w-]{43}$/);
    expect(params.get('login_hint')).toBe('ann@example.com');
    // First connection: no prompt=consent (each one mints a token; Google keeps 100 per user).
    expect(params.has('prompt')).toBe(false);
    expect(params.has('approval_prompt')).toBe(false);
    // The transaction's own cookie, named after a hash of its state (never the state itself).
    const cookie = agent.cookies.get('localhost')?.get(transactionCookieName(params.get('state')!));
    expect(cookie).toMatch(/^v1\.k1\./);
    expect([...agent.cookies.get('localhost')!.keys()].join()).not.toContain(params.get('state'));
  });

  it('sets the transaction cookie with __Host- rules and no database write', async () => {
    const before = (await app.db.collection('connections').get()).size;
    const response = await fetch(app.urls.authorize, { redirect: 'manual' });
    const setCookie = response.headers.get('set-cookie')!;
    expect(setCookie).toMatch(/^__Host-cv-tx-[0-9a-f]{16}=/);
    expect(setCookie).toContain('Path=/');
    expect(setCookie).toContain('Secure');
    expect(setCookie).toContain('HttpOnly');
    expect(setCookie).toContain('SameSite=Lax');
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    expect(response.headers.get('strict-transport-security')).toBe(
      'max-age=63072000; includeSubDomains',
    );
    expect((await app.db.collection('connections').get()).size).toBe(before);
  });

  it('stores the refresh token encrypted after consent and lands on a clean success page', async () => {
    const agent = new UserAgent();
    const hops = await agent.connect(app.urls.authorize, { email: 'alice@example.com' });
    const last = hops.at(-1)!;
    expect(last.status).toBe(303);
    expect(last.location).toBe(app.runtime.config.successUrl);
    expect([...(agent.cookies.get('localhost')?.keys() ?? [])].some(isTransactionCookie)).toBe(
      false,
    );

    const sub = subOf('alice@example.com');
    const doc = await connection(sub);
    expect(doc?.state).toBe('active');
    expect(doc?.email).toBe('alice@example.com');
    expect(doc?.scopes).toContain(DRIVE);
    expect(doc?.refreshToken).toMatch(/^v1\.k1\./);
    const keys = await app.runtime.keys('token');
    const refreshToken = openToken(keys, sub, 'refreshToken', doc!.refreshToken!);
    expect(refreshToken).toMatch(/^1\/\//);
    expect(JSON.stringify(doc)).not.toContain(refreshToken);
    expect(app.standIn.control.issuedSecrets()).toContain(refreshToken);

    const success = await agent.request(last.location!);
    expect(success.status).toBe(200);
    expect(success.body).toContain('Your Google account is connected');
    // The page names what the configured jobs do, in the jobs' own words.
    expect(success.body).toContain('a daily export file in your Google Drive');
  });

  it('keeps the stored refresh token on a later consent that returns none', async () => {
    const agent = new UserAgent();
    await agent.connect(app.urls.authorize, { email: 'bob@example.com' });
    const sub = subOf('bob@example.com');
    const first = await connection(sub);
    const hops = await agent.connect(app.urls.authorize, { email: 'bob@example.com' });
    expect(hops.at(-1)?.status).toBe(303);
    // Google sent no refresh token the second time (no prompt=consent): nothing was restarted.
    expect(hops.some((hop) => hop.location?.includes('prompt=consent'))).toBe(false);
    const second = await connection(sub);
    expect(second?.refreshToken).toBe(first?.refreshToken);
    expect(second?.connectedAt?.toMillis()).toBe(first?.connectedAt?.toMillis());
    expect(app.standIn.control.grants('bob@example.com')[0]?.liveRefreshTokens).toBe(1);
  });

  it('restarts once with prompt=consent when no refresh token is stored', async () => {
    const agent = new UserAgent();
    await agent.connect(app.urls.authorize, { email: 'carol@example.com' });
    const sub = subOf('carol@example.com');
    // Our copy is lost (e.g. the user was revoked here but still has a grant at Google).
    await app.db.doc(`connections/${sub}`).delete();
    const hops = await agent.connect(app.urls.authorize, { email: 'carol@example.com' });
    const restart = hops.find((hop) => hop.location?.includes('prompt=consent'));
    expect(restart, 'a restart with prompt=consent').toBeDefined();
    expect(hops.at(-1)?.status).toBe(303);
    const doc = await connection(sub);
    expect(doc?.state).toBe('active');
    expect(doc?.refreshToken).toMatch(/^v1\./);
  });

  it('re-consent with a new refresh token overwrites the stored one', async () => {
    const agent = new UserAgent();
    await agent.connect(app.urls.authorize, { email: 'dave@example.com' });
    const sub = subOf('dave@example.com');
    const keys = await app.runtime.keys('token');
    const before = openToken(keys, sub, 'refreshToken', (await connection(sub))!.refreshToken!);
    await app.db.doc(`connections/${sub}`).update({ refreshToken: null, state: 'needs-reconnect' });
    await agent.connect(app.urls.authorize, { email: 'dave@example.com' });
    const after = openToken(keys, sub, 'refreshToken', (await connection(sub))!.refreshToken!);
    expect(after).not.toBe(before);
    expect((await connection(sub))?.state).toBe('active');
  });

  it('returns to an allow-listed target after consent', async () => {
    const agent = new UserAgent();
    const hops = await agent.connect(
      `${app.urls.authorize}?return_to=${encodeURIComponent('http://localhost:5000/welcome')}`,
      { email: 'erin@example.com' },
    );
    expect(hops.at(-1)?.location).toBe('http://localhost:5000/welcome');
  });

  it('fetches Google’s certificates once per instance, not once per consent (max-age caching)', async () => {
    const before = app.standIn.control.stats().certs?.requests ?? 0;
    for (const email of ['cache-1@example.com', 'cache-2@example.com', 'cache-3@example.com'])
      expect((await new UserAgent().connect(app.urls.authorize, { email })).at(-1)?.status).toBe(
        303,
      );
    // Earlier tests in this file already warmed the instance's cache.
    expect((app.standIn.control.stats().certs?.requests ?? 0) - before).toBe(0);
  });
});

describe('an ID token whose sub is not a Google account id', () => {
  it.each(['../x', '__a__', '12a', '9'.repeat(256)])(
    'sub %s: a friendly 400 and no document written',
    async (sub) => {
      const before = (await app.db.collection('connections').get()).size;
      app.standIn.control.setTokenShape({ idTokenSub: sub });
      try {
        const hops = await new UserAgent().connect(app.urls.authorize, {
          email: 'odd-sub@example.com',
        });
        const last = hops.at(-1)!;
        expect(last.status).toBe(400);
        expect(last.body).toContain('could not be verified');
      } finally {
        app.standIn.control.setTokenShape({ idTokenSub: undefined });
      }
      expect((await app.db.collection('connections').get()).size).toBe(before);
    },
  );
});

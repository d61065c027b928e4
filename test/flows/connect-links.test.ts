// Connect sessions bound to the app's own users: the app's backend mints a signed, short-lived,
// single-use link for one of its users (server-to-server API); authorize verifies it (and can
// require one); the callback claims it once and stores the app's user id on the connection; the
// revoke API accepts that id; an app user connecting a second Google account is refused (or, by
// setting, replaces the first). Real functions, Firestore emulator, Google stand-in.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoredConnection } from '../../shared/store/connection/document.ts';
import { SERVICE_CALLER, startTestApp, type TestApp } from '../support/app.ts';
import { UserAgent } from '../support/user-agent.ts';

let app: TestApp;
let strict: TestApp;

beforeAll(async () => {
  app = await startTestApp({ REVOKE_CALLERS: SERVICE_CALLER });
  strict = await startTestApp({
    REVOKE_CALLERS: SERVICE_CALLER,
    CONNECT_LINK_REQUIRED: 'true',
    APP_USER_SECOND_ACCOUNT: 'replace',
  });
});
afterAll(async () => {
  await app?.close();
  await strict?.close();
});

async function backend(
  target: TestApp,
  path: string,
  body: Record<string, unknown>,
  caller = SERVICE_CALLER,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const token = target.standIn.control.mintServiceAccountIdToken({
    email: caller,
    audience: target.runtime.config.revokeUrl,
  });
  const response = await fetch(new URL(path, target.urls.revoke), {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

async function mint(target: TestApp, appUserId: string, ttlSeconds?: number): Promise<string> {
  const minted = await backend(target, '/connect-links', {
    appUserId,
    ...(ttlSeconds ? { ttlSeconds } : {}),
  });
  expect(minted.status).toBe(200);
  return String(minted.json.url);
}

/** A browser follows the link through Google's consent (as `email`) to the callback's answer. */
async function connectThrough(link: string, email: string) {
  const agent = new UserAgent();
  const start = await agent.request(link);
  if (start.status !== 302) return start;
  const consent = new URL(start.location!);
  consent.searchParams.set('standin_decision', 'approve');
  consent.searchParams.set('standin_user', email);
  const answer = await agent.request(consent.toString());
  return agent.request(answer.location!);
}

/** Google's sub of each email, remembered: a revoked grant is gone from the stand-in. */
const subs = new Map<string, string>();

async function connection(target: TestApp, email: string): Promise<StoredConnection | undefined> {
  const sub = target.standIn.control.grants(email)[0]?.sub ?? subs.get(email);
  if (sub === undefined) return undefined;
  subs.set(email, sub);
  return (await target.db.doc(`connections/${sub}`).get()).data() as StoredConnection | undefined;
}

describe('connect links', () => {
  it("store the app's user id on the connection; events and the revoke API know it", async () => {
    const link = await mint(app, 'user-42');
    const done = await connectThrough(link, 'fortytwo@example.com');
    expect(done.status).toBe(303);
    expect((await connection(app, 'fortytwo@example.com'))?.appUserId).toBe('user-42');
    expect(app.events).toContainEqual(
      expect.objectContaining({ type: 'connected', appUserId: 'user-42' }),
    );
    const revoked = await backend(app, '/', { appUserId: 'user-42' });
    expect(revoked.status).toBe(200);
    expect(app.events).toContainEqual(
      expect.objectContaining({ type: 'revoked', appUserId: 'user-42' }),
    );
    expect((await connection(app, 'fortytwo@example.com'))?.state).toBe('revoked');
  });

  it('a reused link is refused, and its tokens are handed back to Google', async () => {
    const link = await mint(app, 'user-reuse');
    expect((await connectThrough(link, 'reuse@example.com')).status).toBe(303);
    const again = await connectThrough(link, 'reuse@example.com');
    expect(again.status).toBe(409);
    expect(again.body).toContain('was used already');
  });

  it('an expired, a tampered, or another user’s link is refused before Google is asked', async () => {
    const link = new URL(await mint(app, 'user-a'));
    const tampered = new URL(link);
    tampered.searchParams.set('app_user', 'user-b');
    const agent = new UserAgent();
    const other = await agent.request(tampered.toString());
    expect(other.status).toBe(400);
    expect(other.body).toContain('connect link is not valid');
    const bad = new URL(link);
    bad.searchParams.set('cs', 'A'.repeat(43));
    expect((await agent.request(bad.toString())).status).toBe(400);

    const short = new URL(await mint(app, 'user-late', 60));
    app.clockOffsetMs += 120_000;
    try {
      const late = await agent.request(short.toString());
      expect(late.status).toBe(410);
      expect(late.body).toContain('expired');
    } finally {
      app.clockOffsetMs -= 120_000;
    }
  });

  it('an app user connecting a second Google account is refused by default', async () => {
    expect((await connectThrough(await mint(app, 'user-two'), 'first@example.com')).status).toBe(
      303,
    );
    const second = await connectThrough(await mint(app, 'user-two'), 'second@example.com');
    expect(second.status).toBe(409);
    expect(second.body).toContain('already connected to another Google account');
    expect(await connection(app, 'second@example.com')).toBeUndefined();
    // What Google granted for the refused consent was handed back.
    expect(app.standIn.control.grants('second@example.com')[0]?.liveRefreshTokens ?? 0).toBe(0);
    expect((await connection(app, 'first@example.com'))?.state).toBe('active');
  });

  it('with APP_USER_SECOND_ACCOUNT=replace the first account is revoked, and links are required', async () => {
    const agent = new UserAgent();
    const unbound = await agent.request(strict.urls.authorize);
    expect(unbound.status).toBe(403);
    expect(unbound.body).toContain('start connecting from');

    expect((await connectThrough(await mint(strict, 'user-r'), 'old@example.com')).status).toBe(
      303,
    );
    expect((await connection(strict, 'old@example.com'))?.appUserId).toBe('user-r');
    expect((await connectThrough(await mint(strict, 'user-r'), 'new@example.com')).status).toBe(
      303,
    );
    expect((await connection(strict, 'old@example.com'))?.state).toBe('revoked');
    expect(await connection(strict, 'new@example.com')).toMatchObject({
      state: 'active',
      appUserId: 'user-r',
    });
    expect(strict.standIn.control.grants('old@example.com')[0]?.liveRefreshTokens ?? 0).toBe(0);
  });

  it('minting needs an allowed identity and a well-formed user id', async () => {
    expect(
      (
        await backend(
          app,
          '/connect-links',
          { appUserId: 'x' },
          'stranger@other.iam.gserviceaccount.com',
        )
      ).status,
    ).toBe(403);
    expect((await backend(app, '/connect-links', { appUserId: '../etc' })).status).toBe(400);
    expect(
      (await backend(app, '/connect-links', { appUserId: 'ok', ttlSeconds: 86400 })).status,
    ).toBe(400);
  });
});

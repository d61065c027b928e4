// A user's decision always wins, on the request path: the callback is single use server-side,
// each consent tab has its own transaction, a revocation Google refuses for good is recorded and
// reported truthfully, and authorization servers that leave `scope` out work. Driven through the
// real functions against the Firestore emulator and the Google stand-in.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REVOKE_REFUSED_ALERT } from '../../shared/revocation/revoke-connection.ts';
import type { StoredConnection } from '../../shared/store/connection/document.ts';
import { SERVICE_CALLER, startTestApp, type TestApp } from '../support/app.ts';
import { UserAgent } from '../support/user-agent.ts';

const DRIVE = 'https://www.googleapis.com/auth/drive.file';

let app: TestApp;

beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app?.close());

async function upToCallback(agent: UserAgent, email: string): Promise<string> {
  const start = await agent.request(app.urls.authorize);
  expect(start.status).toBe(302);
  const consent = new URL(start.location!);
  consent.searchParams.set('standin_decision', 'approve');
  consent.searchParams.set('standin_user', email);
  const answer = await agent.request(consent.toString());
  expect(answer.location!.startsWith(app.urls.callback)).toBe(true);
  return answer.location!;
}

const subOf = (email: string) => app.standIn.control.grants(email)[0]!.sub;
const tokenCalls = () => app.standIn.control.stats().token?.requests ?? 0;

async function connection(sub: string): Promise<StoredConnection | undefined> {
  return (await app.db.doc(`connections/${sub}`).get()).data() as StoredConnection | undefined;
}

describe('the callback is single use', () => {
  it('the same callback URL sent twice at once exchanges the code once; both get its answer', async () => {
    const agent = new UserAgent();
    const email = 'double-click@example.com';
    const callbackUrl = await upToCallback(agent, email);
    const before = tokenCalls();
    // Google answers slowly, so the second click arrives while the first is exchanging.
    app.standIn.control.injectFault('token', { kind: 'slow', delayMs: 300 });
    const [first, second] = await Promise.all([
      agent.request(callbackUrl),
      agent.request(callbackUrl),
    ]);
    expect(tokenCalls() - before).toBe(1);
    expect([first.status, second.status]).toEqual([303, 303]);
    expect(second.location).toBe(first.location);
    // Google saw the code once, so the tokens minted from it are alive and stored.
    const grant = app.standIn.control.grants(email)[0];
    expect(grant?.liveRefreshTokens).toBe(1);
    expect((await connection(grant!.sub))?.state).toBe('active');
    expect(
      app.logs.some((line) => String(line.message).includes('callback state used twice')),
    ).toBe(true);
  });
});

describe('the recorded answer of a restart', () => {
  it('stores no state: a later request for it is told to look in the first window', async () => {
    const email = 'restart-once@example.com';
    const agent = new UserAgent();
    await agent.connect(app.urls.authorize, { email });
    // Connected before, nothing stored now: Google sends no refresh token, so the callback
    // restarts the consent with prompt=consent, under a new state in a new cookie.
    await app.db.doc(`connections/${subOf(email)}`).delete();
    const callbackUrl = await upToCallback(agent, email);
    const restart = await agent.request(callbackUrl);
    expect(restart.status).toBe(302);
    const newState = new URL(restart.location!).searchParams.get('state')!;
    const before = tokenCalls();
    const again = await agent.request(callbackUrl);
    expect(again.status).toBe(409);
    expect(again.body).toContain('continues in the window that started it');
    expect(tokenCalls()).toBe(before);
    const records = await app.db.collection('callbackStates').get();
    expect(records.size).toBeGreaterThan(0);
    for (const record of records.docs)
      expect(JSON.stringify(record.data())).not.toContain(newState);
  });
});

describe('two consent tabs', () => {
  it('both finish: each transaction has its own cookie', async () => {
    const agent = new UserAgent();
    const firstTab = await upToCallback(agent, 'two-tabs-a@example.com');
    const secondTab = await upToCallback(agent, 'two-tabs-b@example.com');
    const finishedFirst = await agent.request(firstTab);
    const finishedSecond = await agent.request(secondTab);
    expect([finishedFirst.status, finishedSecond.status]).toEqual([303, 303]);
    expect((await connection(subOf('two-tabs-a@example.com')))?.state).toBe('active');
    expect((await connection(subOf('two-tabs-b@example.com')))?.state).toBe('active');
  });

  it('a browser keeps at most four transactions; the oldest go first', async () => {
    const agent = new UserAgent();
    const tabs: string[] = [];
    for (let tab = 0; tab < 6; tab += 1)
      tabs.push(await upToCallback(agent, `tab${tab}@example.com`));
    const cookies = [...agent.cookies.get('localhost')!.keys()].filter((name) =>
      name.startsWith('__Host-cv-tx-'),
    );
    expect(cookies).toHaveLength(4);
    // The newest still finishes; the oldest was dropped.
    expect((await agent.request(tabs[5]!)).status).toBe(303);
    const oldest = await agent.request(tabs[0]!);
    expect(oldest.status).toBe(400);
    expect(oldest.body).toContain('started in another browser');
  });
});

describe('an authorization server that leaves scope out (RFC 6749 §5.1)', () => {
  it('means the requested scopes were granted: the consent is stored with them', async () => {
    app.standIn.control.setTokenShape({ omitScope: true });
    try {
      const hops = await new UserAgent().connect(app.urls.authorize, {
        email: 'no-scope@example.com',
      });
      expect(hops.at(-1)?.status).toBe(303);
      const stored = await connection(subOf('no-scope@example.com'));
      expect(stored?.state).toBe('active');
      expect(stored?.scopes).toContain(DRIVE);
    } finally {
      app.standIn.control.setTokenShape({ omitScope: false });
    }
  });
});

describe('Google refusing a revocation for good', () => {
  const revokeVia = (sub: string) =>
    fetch(app.urls.revoke, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${app.standIn.control.mintServiceAccountIdToken({
          email: SERVICE_CALLER,
          audience: app.runtime.config.revokeUrl,
        })}`,
      },
      body: JSON.stringify({ sub }),
    });

  it('is a configuration fault: alerted, recorded, reported truthfully, never used again', async () => {
    const email = 'refused@example.com';
    const hops = await new UserAgent().connect(app.urls.authorize, { email });
    expect(hops.at(-1)?.status).toBe(303);
    const sub = subOf(email);
    app.standIn.control.injectFault('revoke', {
      kind: 'refuse',
      status: 400,
      error: 'invalid_request',
    });
    const revokeCalls = app.standIn.control.stats().revoke?.requests ?? 0;
    const answer = await revokeVia(sub);
    expect(answer.status).toBe(202);
    expect(await answer.json()).toEqual({ sub, status: 'refused' });
    // One call: a refusal is not retried like an outage.
    expect((app.standIn.control.stats().revoke?.requests ?? 0) - revokeCalls).toBe(1);

    const stored = await connection(sub);
    expect(stored).toMatchObject({
      state: 'revoke-pending',
      email: null,
      scopes: [],
      accessToken: null,
      revokeRefusal: { error: 'invalid_request', status: 400 },
    });
    expect(stored?.refreshToken).toMatch(/^v1\./);
    const alert = app.logs.find((line) => line.alert === REVOKE_REFUSED_ALERT);
    expect(alert).toMatchObject({ severity: 'ERROR', sub, reason: 'invalid_request' });
    expect(app.events).toContainEqual(
      expect.objectContaining({ type: 'revoke-failed', sub, reason: 'invalid_request' }),
    );
    expect(app.events.some((event) => event.type === 'revoked' && event.sub === sub)).toBe(false);

    // The operator's revoke call retries at once and, Google accepting now, completes it.
    const retried = await revokeVia(sub);
    expect(await retried.json()).toEqual({ sub, status: 'revoked' });
    expect(app.standIn.control.grants(email)).toEqual([]);
  });

  it("the user's page says the disconnect is recorded and how to remove access themselves", async () => {
    const email = 'refused-link@example.com';
    await new UserAgent().connect(app.urls.authorize, { email });
    const sub = subOf(email);
    const { createUnsubscribeLink } = await import('../../shared/web/unsubscribe-link.ts');
    const keys = await app.runtime.keys('link');
    const link = new URL(createUnsubscribeLink(keys, app.urls.revoke, sub, Date.now() + 3600e3));
    app.standIn.control.injectFault('revoke', {
      kind: 'refuse',
      status: 400,
      error: 'invalid_request',
    });
    const answer = await fetch(app.urls.revoke, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: link.searchParams.toString(),
    });
    expect(answer.status).toBe(202);
    const page = await answer.text();
    expect(page).toContain('Your disconnection is recorded');
    expect(page).toContain('our operator will complete it');
    expect(page).toContain('https://myaccount.google.com/connections');
    expect(page).not.toContain('did not answer just now');
  });
});

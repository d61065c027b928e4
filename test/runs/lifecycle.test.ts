// A user's decision always wins over a run that is working on them. Each race is forced at the
// connection repository's seam (RunDeps.decorateConnections): the user's action runs at the exact
// step of the run named in the test, through the real revoke function and the callback's real
// storing code, against the Firestore emulator and the Google stand-in.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeConsent } from '../../shared/flows/consent-storage.ts';
import { revokeHandler } from '../../shared/flows/revoke.ts';
import { DRIVE_FILE_SCOPE } from '../../shared/jobs/builtin/drive-export.ts';
import { defineJob } from '../../shared/jobs/define.ts';
import type { CodeExchangeResult } from '../../shared/oauth/callback.ts';
import { memoryPublisher } from '../../shared/pubsub/publisher.ts';
import { processBatch } from '../../shared/runs/batch.ts';
import type { RunDepsOptions } from '../../shared/runs/deps.ts';
import { workerHandler } from '../../shared/runs/handlers.ts';
import { recordDispatched } from '../../shared/runs/dispatched.ts';
import { readLedger } from '../../shared/runs/ledger.ts';
import { batchId } from '../../shared/runs/messages.ts';
import { openToken } from '../../shared/store/connection/document.ts';
import type { ConnectionRepository } from '../../shared/store/connection/repository.ts';
import { connectionRef } from '../support/connections.ts';
import {
  expireAccessTokens,
  startRunHarness,
  stopOwnEmulators,
  type RunHarness,
  type SeededUser,
} from './harness.ts';

const CALLER = 'app-backend@demo-consent-vault.iam.gserviceaccount.com';
let harness: RunHarness;
let runs = 0;

beforeAll(async () => {
  harness = await startRunHarness('lifecycle', { REVOKE_CALLERS: CALLER, WORKER_CONCURRENCY: '4' });
});
afterAll(async () => {
  await harness?.close();
  await stopOwnEmulators();
});

/** A fresh run id per test, so ledgers never mix. */
function nextRun(): { runId: string; day: string } {
  runs += 1;
  const day = `2026-12-${String(runs).padStart(2, '0')}`;
  return { runId: `${day}_86400s`, day };
}

async function runBatch(users: readonly SeededUser[], options: RunDepsOptions = {}) {
  const { runId, day } = nextRun();
  const deps = await harness.deps({ publisher: memoryPublisher(), ...options });
  const batch = { v: 1 as const, runId, batchId: batchId(0), subs: users.map((user) => user.sub) };
  const summary = await processBatch(deps, batch, { attempt: 1, final: false });
  const ledger = await readLedger(harness.db, runId, batch.subs);
  return { summary, ledger, runId, day };
}

/** The user unsubscribes through the real revoke function (server-to-server API). */
async function unsubscribe(sub: string): Promise<number> {
  const token = harness.standIn.control.mintServiceAccountIdToken({
    email: CALLER,
    audience: harness.runtime.config.revokeUrl,
  });
  const response = await revokeHandler(harness.runtime)({
    method: 'POST',
    url: new URL(harness.runtime.config.revokeUrl),
    headers: { authorization: `Bearer ${token}` },
    cookies: new Map(),
    form: undefined,
    json: { sub },
  });
  return response.status;
}

/** The user connects again: a new consent at Google, stored by the callback's own code. */
async function reconnect(email: string): Promise<string> {
  const consent = await harness.consentAtGoogle(email);
  const result: CodeExchangeResult = {
    sub: consent.sub,
    email,
    grantedScopes: consent.scopes,
    refreshToken: consent.refreshToken,
    refreshTokenExpiresInSeconds: undefined,
    accessToken: consent.accessToken,
    accessTokenExpiresAt: Date.now() + consent.expiresIn * 1000,
  };
  expect((await storeConsent(harness.runtime, result)).kind).toBe('written');
  return consent.refreshToken;
}

/** Runs `action` once, for `sub`, at the named step of the run. */
function at(
  step: 'after-lease' | 'before-job',
  sub: string,
  action: () => Promise<unknown>,
): RunDepsOptions['decorateConnections'] {
  let done = false;
  const once = async (target: string) => {
    if (done || target !== sub) return;
    done = true;
    await action();
  };
  return (connections: ConnectionRepository): ConnectionRepository => ({
    ...connections,
    async takeLease(target, request) {
      const taken = await connections.takeLease(target, request);
      if (step === 'after-lease' && taken.kind === 'written') await once(target);
      return taken;
    },
    async stillHeld(held) {
      if (step === 'before-job') await once(held.connection.sub);
      return connections.stillHeld(held);
    },
  });
}

const exportsOf = (user: SeededUser, day: string) =>
  harness.standIn.control
    .driveFiles(user.email)
    .filter((file) => !file.trashed && file.name === `export-${day}.csv`);

const eventsFor = (sub: string) =>
  harness.events.events.filter((event) => event.sub === sub).map((event) => event.type);

describe('a user who unsubscribes while a run works on them', () => {
  it('gets no export and no event but `revoked` (Google up)', async () => {
    const [leaving, staying] = await harness.seedUsers(2, { prefix: 'leave-up' });
    const { ledger, day } = await runBatch([leaving!, staying!], {
      decorateConnections: at('before-job', leaving!.sub, async () =>
        expect(await unsubscribe(leaving!.sub)).toBe(200),
      ),
    });
    expect((await harness.connection(leaving!.sub)).state).toBe('revoked');
    expect(exportsOf(leaving!, day)).toEqual([]);
    expect(eventsFor(leaving!.sub)).toEqual(['revoked']);
    expect(ledger.get(leaving!.sub)).toMatchObject({
      outcome: 'skipped',
      reason: 'superseded:revoked',
    });
    expect(harness.standIn.control.grants(leaving!.email)).toEqual([]);
    // The other user of the batch is untouched.
    expect(exportsOf(staying!, day)).toHaveLength(1);
    expect(ledger.get(staying!.sub)?.outcome).toBe('ok');
  });

  it('gets no export even while Google’s revoke is failing (revoke-pending)', async () => {
    const [leaving] = await harness.seedUsers(1, { prefix: 'leave-down' });
    const { ledger, day } = await runBatch([leaving!], {
      decorateConnections: at('before-job', leaving!.sub, async () => {
        harness.standIn.control.injectFault('revoke', { kind: 'status', status: 503, count: 4 });
        expect(await unsubscribe(leaving!.sub)).toBe(202);
      }),
    });
    harness.standIn.control.clearFaults('revoke');
    const stored = await harness.connection(leaving!.sub);
    expect(stored.state).toBe('revoke-pending');
    expect(stored.email).toBeNull();
    expect(exportsOf(leaving!, day)).toEqual([]);
    expect(eventsFor(leaving!.sub)).toEqual([]);
    expect(ledger.get(leaving!.sub)?.reason).toBe('superseded:revoke-pending');
  });

  it('whose refresh fails meanwhile is not marked needs-reconnect after the revoke', async () => {
    const [leaving] = await harness.seedUsers(1, { prefix: 'leave-grant' });
    await expireAccessTokens(harness.db, [leaving!.sub]);
    await runBatch([leaving!], {
      decorateConnections: at('after-lease', leaving!.sub, async () =>
        expect(await unsubscribe(leaving!.sub)).toBe(200),
      ),
    });
    // The run's refresh met invalid_grant (the grant was revoked); the user's decision stands.
    expect((await harness.connection(leaving!.sub)).state).toBe('revoked');
    expect(eventsFor(leaving!.sub)).toEqual(['revoked']);
  });
});

describe('a user who reconnects while a run works on them', () => {
  it('keeps the fresh refresh token and stays active; the run drops them', async () => {
    const [user] = await harness.seedUsers(1, { prefix: 'reconnect' });
    await expireAccessTokens(harness.db, [user!.sub]);
    let fresh = '';
    const { ledger } = await runBatch([user!], {
      // The user removed access at Google and connected again after the run took its lease: the
      // run's refresh with the old token gets invalid_grant.
      decorateConnections: at('after-lease', user!.sub, async () => {
        harness.standIn.control.revokeUserGrant(user!.email);
        fresh = await reconnect(user!.email);
      }),
    });
    const stored = await harness.connection(user!.sub);
    expect(stored.state).toBe('active');
    const keys = await harness.runtime.keys('token');
    expect(openToken(keys, user!.sub, 'refreshToken', stored.refreshToken!)).toBe(fresh);
    expect(harness.standIn.control.grants(user!.email)[0]?.liveRefreshTokens).toBe(1);
    expect(eventsFor(user!.sub)).toEqual([]);
    expect(ledger.get(user!.sub)?.reason).toBe('superseded:active');
  });
});

describe('two deliveries of one batch on one worker process', () => {
  it('never work on one user at once: each acquisition has its own lease', async () => {
    const users = await harness.seedUsers(4, { prefix: 'twice' });
    const inFlight = new Map<string, number>();
    let overlap = 0;
    let runsOfJob = 0;
    const probe = defineJob({
      name: 'probe',
      title: 'a probe',
      scopes: [DRIVE_FILE_SCOPE],
      async run(context) {
        const sub = context.connection.sub;
        const now = (inFlight.get(sub) ?? 0) + 1;
        inFlight.set(sub, now);
        overlap = Math.max(overlap, now);
        runsOfJob += 1;
        await new Promise((resolve) => setTimeout(resolve, 100));
        inFlight.set(sub, now - 1);
        return { effect: 'probed' };
      },
    });
    // One deps per process, shared by both deliveries (one instance id), as functions/worker.ts.
    const deps = await harness.deps({ publisher: memoryPublisher(), jobs: [probe] });
    const handle = workerHandler(() => Promise.resolve(deps));
    const { runId } = nextRun();
    const batch = {
      v: 1 as const,
      runId,
      batchId: batchId(0),
      subs: users.map((user) => user.sub),
    };
    await recordDispatched(harness.db, batch, Date.now());
    const data = Buffer.from(JSON.stringify(batch)).toString('base64');
    await Promise.allSettled(
      ['m-a', 'm-b'].map((messageId) => handle({ data: { message: { data, messageId } } })),
    );
    expect(overlap).toBe(1);
    expect(runsOfJob).toBe(users.length);
    const ledger = await readLedger(
      harness.db,
      runId,
      users.map((user) => user.sub),
    );
    expect([...ledger.values()].map((entry) => entry.outcome)).toEqual(Array(4).fill('ok'));
    for (const user of users) expect((await harness.connection(user.sub)).refreshLease).toBeNull();
  });
});

describe('access tokens that are not Google’s', () => {
  it('60-second access tokens: the runner refreshes, the job’s client never decides on its own', async () => {
    harness.standIn.control.setTokenShape({ accessTokenLifetimeS: 60 });
    try {
      const users = await harness.seedUsers(3, { prefix: 'short-lived' });
      const { ledger, day } = await runBatch(users);
      for (const user of users) {
        expect(ledger.get(user.sub)?.outcome, user.email).toBe('ok');
        expect(exportsOf(user, day)).toHaveLength(1);
      }
      // The stored tokens (60 s) do not outlive a user's budget: each user was refreshed.
      const stored = await harness.connection(users[0]!.sub);
      expect(stored.accessTokenExpiresAt!.toMillis() - Date.now()).toBeLessThanOrEqual(60_000);
    } finally {
      harness.standIn.control.setTokenShape({ accessTokenLifetimeS: 3599 });
    }
  });
});

describe('a revocation Google refused for good', () => {
  it('is not retried by runs under the same client configuration, and is once it changed', async () => {
    const [user] = await harness.seedUsers(1, { prefix: 'refused-run' });
    harness.standIn.control.injectFault('revoke', {
      kind: 'refuse',
      status: 400,
      error: 'invalid_request',
    });
    expect(await unsubscribe(user!.sub)).toBe(202);
    const refused = await harness.connection(user!.sub);
    expect(refused.revokeRefusal?.error).toBe('invalid_request');

    const callsBefore = harness.standIn.control.stats().revoke?.requests ?? 0;
    const first = await runBatch([user!]);
    expect(first.ledger.get(user!.sub)).toMatchObject({
      outcome: 'revoke-pending',
      reason: 'refused',
    });
    expect(harness.standIn.control.stats().revoke?.requests ?? 0).toBe(callsBefore);
    expect((await harness.connection(user!.sub)).refreshLease).toBeNull();

    // A configuration fixed and redeployed has another fingerprint: the next run retries.
    await connectionRef(harness.db, user!.sub).update({ 'revokeRefusal.client': 'earlier' });
    const second = await runBatch([user!]);
    expect(second.ledger.get(user!.sub)?.outcome).toBe('revoked');
    expect((await harness.connection(user!.sub)).state).toBe('revoked');
    expect(harness.standIn.control.grants(user!.email)).toEqual([]);
  });
});

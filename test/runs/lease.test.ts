// The per-user lease (shared/runs/lease.ts) against the real Firestore emulator: who may take it,
// when it is busy, that a stale read can never take it, and that it expires on its own.
import { Timestamp, type Firestore } from '@google-cloud/firestore';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireLease, leaseBusy, readConnections, releaseLease } from '../../shared/runs/lease.ts';
import { classifyError } from '../../shared/retry/classify.ts';
import {
  connectionRef,
  type ConnectionDoc,
  type ConnectionState,
} from '../../shared/store/connections.ts';
import { createFirestore } from '../../shared/store/firestore.ts';

const settings = {
  projectId: `demo-lease-${randomBytes(3).toString('hex')}`,
  firestoreDatabase: '(default)',
  firestoreEmulatorHost: process.env.FIRESTORE_EMULATOR_HOST,
};
const NOW = Date.parse('2026-11-22T10:00:00.000Z');
const TTL = 60_000;

let db: Firestore;
let users = 0;

beforeAll(async () => {
  expect(settings.firestoreEmulatorHost, 'run through npm test').toBeTruthy();
  db = await createFirestore(settings);
});
afterAll(() => db.terminate());

async function connection(
  state: ConnectionState,
  lease: ConnectionDoc['refreshLease'] = null,
): Promise<string> {
  users += 1;
  const sub = `2000${users}`;
  const at = Timestamp.fromMillis(NOW - 86400e3);
  const doc: ConnectionDoc = {
    sub,
    email: `lease${users}@example.com`,
    state,
    scopes: ['openid'],
    refreshToken: 'v1.k1.sealed',
    refreshTokenExpiresAt: null,
    accessToken: null,
    accessTokenExpiresAt: null,
    connectedAt: at,
    updatedAt: at,
    reconnectReason: null,
    refreshLease: lease,
    lastRun: null,
    revokePendingSince: null,
    revokedAt: null,
  };
  await connectionRef(db, sub).set(doc);
  return sub;
}

const storedLease = async (sub: string) =>
  ((await connectionRef(db, sub).get()).data() as ConnectionDoc).refreshLease;

const held = (holder: string, until: number) => ({ holder, until: Timestamp.fromMillis(until) });

describe('acquireLease', () => {
  it('takes a free lease on an active connection and stores holder and expiry', async () => {
    const sub = await connection('active');
    const result = await acquireLease(db, { sub, holder: 'a', now: NOW, ttlMs: TTL });
    expect(result.kind).toBe('acquired');
    expect(await storedLease(sub)).toEqual(held('a', NOW + TTL));
  });

  it('works on revoke-pending connections too (the run completes the revocation)', async () => {
    const sub = await connection('revoke-pending');
    expect((await acquireLease(db, { sub, holder: 'a', now: NOW, ttlMs: TTL })).kind).toBe(
      'acquired',
    );
  });

  it.each(['needs-reconnect', 'revoked'] as const)(
    'writes nothing on a %s connection',
    async (state) => {
      const sub = await connection(state);
      const before = (await connectionRef(db, sub).get()).updateTime;
      const result = await acquireLease(db, { sub, holder: 'a', now: NOW, ttlMs: TTL });
      expect(result).toMatchObject({ kind: 'not-runnable', connection: { state } });
      expect((await connectionRef(db, sub).get()).updateTime?.isEqual(before!)).toBe(true);
    },
  );

  it('reports a missing connection as not runnable', async () => {
    const result = await acquireLease(db, { sub: '29999', holder: 'a', now: NOW, ttlMs: TTL });
    expect(result).toEqual({ kind: 'not-runnable', connection: undefined });
  });

  it("is busy while another holder's lease runs, and taken over once it expired", async () => {
    const sub = await connection('active', held('b', NOW + 10_000));
    expect(await acquireLease(db, { sub, holder: 'a', now: NOW, ttlMs: TTL })).toEqual({
      kind: 'busy',
      until: NOW + 10_000,
    });
    expect(await storedLease(sub)).toEqual(held('b', NOW + 10_000));
    const later = NOW + 10_001;
    expect((await acquireLease(db, { sub, holder: 'a', now: later, ttlMs: TTL })).kind).toBe(
      'acquired',
    );
    expect(await storedLease(sub)).toEqual(held('a', later + TTL));
  });

  it('lets its holder take it again (a retried attempt of the same holder)', async () => {
    const sub = await connection('active', held('a', NOW + 10_000));
    expect((await acquireLease(db, { sub, holder: 'a', now: NOW, ttlMs: TTL })).kind).toBe(
      'acquired',
    );
  });

  it('never takes the lease from a stale read: a write since the read makes it busy', async () => {
    const sub = await connection('active');
    const prefetched = (await readConnections(db, [sub])).get(sub)!;
    // Another delivery leases the user after our bulk read.
    await acquireLease(db, { sub, holder: 'b', now: NOW, ttlMs: TTL });
    const result = await acquireLease(db, { sub, holder: 'a', now: NOW, ttlMs: TTL, prefetched });
    expect(result.kind).toBe('busy');
    expect((await storedLease(sub))?.holder).toBe('b');
  });

  it('commits through the given committer when there is one', async () => {
    const sub = await connection('active');
    let commits = 0;
    await acquireLease(db, {
      sub,
      holder: 'a',
      now: NOW,
      ttlMs: TTL,
      commit: async (writes) => {
        commits += 1;
        const batch = db.batch();
        writes(batch);
        await batch.commit();
      },
    });
    expect(commits).toBe(1);
    expect((await storedLease(sub))?.holder).toBe('a');
  });
});

describe('releaseLease and leaseBusy', () => {
  it('releases without touching anything else', async () => {
    const sub = await connection('active', held('a', NOW + 10_000));
    await releaseLease(db, sub);
    const doc = (await connectionRef(db, sub).get()).data() as ConnectionDoc;
    expect(doc.refreshLease).toBeNull();
    expect(doc.state).toBe('active');
    expect(doc.refreshToken).toBe('v1.k1.sealed');
  });

  it('a busy lease is a transient failure that waits until the lease ends', () => {
    expect(classifyError(leaseBusy(NOW + 4_200, NOW))).toMatchObject({
      failure: 'transient',
      reason: 'lease_busy',
      retryAfterSeconds: 5,
    });
    expect(classifyError(leaseBusy(NOW - 1, NOW)).retryAfterSeconds).toBe(1);
  });
});

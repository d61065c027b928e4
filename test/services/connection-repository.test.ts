// The connection repository (shared/store/connection/) against the real Firestore emulator, over
// both transports it runs on: REST (callback, revoke) and gRPC (the runners). Every document is
// read back through @google-cloud/firestore, the client everything else reads with, field types
// included. Then the compare-and-set itself: a writer whose read went stale never overwrites a
// newer decision; it reads again and decides again.
import { Timestamp, type Firestore } from '@google-cloud/firestore';
import { randomBytes } from 'node:crypto';
import { riscTokenHash } from '../../shared/risc/token-hash.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeysetJson, parseKeyset } from '../../shared/crypto/keyset.ts';
import { consentInput } from '../../shared/flows/consent-storage.ts';
import type { CodeExchangeResult } from '../../shared/oauth/callback.ts';
import { openToken, type StoredConnection } from '../../shared/store/connection/document.ts';
import { grpcConnectionBackend } from '../../shared/store/connection/grpc-backend.ts';
import {
  createConnectionRepository,
  type ConnectionBackend,
  type ConnectionRepository,
  type Held,
} from '../../shared/store/connection/repository.ts';
import { restConnectionBackend } from '../../shared/store/connection/rest-backend.ts';
import { createFirestore } from '../../shared/store/firestore.ts';
import { createFirestoreDocuments } from '../../shared/store/firestore-rest.ts';
import { toFields, toValue } from '../../shared/store/firestore-values.ts';
import { connectionRef } from '../support/connections.ts';

const settings = {
  projectId: `demo-repo-${randomBytes(3).toString('hex')}`,
  firestoreDatabase: '(default)',
  firestoreEmulatorHost: process.env.FIRESTORE_EMULATOR_HOST,
};
const tokenKeys = parseKeyset(generateKeysetJson('k1')).forPurpose('token');
const NOW = Date.parse('2026-11-22T10:00:00.000Z');
const DRIVE = 'https://www.googleapis.com/auth/drive.file';

let db: Firestore;
const backends: Record<'rest' | 'grpc', ConnectionBackend> = {} as never;
let users = 0;

beforeAll(async () => {
  expect(settings.firestoreEmulatorHost, 'run through npm test').toBeTruthy();
  db = await createFirestore(settings, 'grpc');
  backends.rest = restConnectionBackend(await createFirestoreDocuments(settings));
  backends.grpc = grpcConnectionBackend(db);
});
afterAll(() => db.terminate());

function answer(overrides: Partial<CodeExchangeResult> = {}): CodeExchangeResult {
  users += 1;
  return {
    sub: `1000${users}`,
    email: `user${users}@example.com`,
    grantedScopes: ['openid', DRIVE],
    refreshToken: `1//refresh-${randomBytes(6).toString('hex')}`,
    refreshTokenExpiresInSeconds: undefined,
    accessToken: `ya29.access-${randomBytes(6).toString('hex')}`,
    accessTokenExpiresAt: NOW + 3599_000,
    ...overrides,
  };
}

async function stored(sub: string): Promise<StoredConnection | undefined> {
  const snapshot = await connectionRef(db, sub).get();
  return snapshot.exists ? (snapshot.data() as StoredConnection) : undefined;
}

const consent = (repo: ConnectionRepository, result: CodeExchangeResult, at = NOW) =>
  repo.storeConsent(consentInput(tokenKeys, result, at));

const outcomeOf = (applied: Awaited<ReturnType<typeof consent>>) =>
  applied.kind === 'refused'
    ? applied.refusal
    : applied.previous === undefined
      ? 'connected'
      : 'reconnected';

const lease = (holder: string, until = NOW + 60_000) => ({
  lease: { holder, until: new Date(until) },
  now: new Date(NOW),
});

async function leased(repo: ConnectionRepository, sub: string, holder: string): Promise<Held> {
  const applied = await repo.takeLease(sub, lease(holder));
  if (applied.kind !== 'written') throw new Error(`lease refused: ${applied.refusal}`);
  return { connection: applied.connection, version: applied.version, holder };
}

const record = (sub: string) => ({
  path: `revocations/${sub}-${randomBytes(4).toString('hex')}`,
  data: { sub, at: new Date(NOW) },
});

describe.each(['rest', 'grpc'] as const)('over %s', (transport) => {
  const repo = () => createConnectionRepository(backends[transport]);

  it('stores a first connection that Google’s client reads with the usual types', async () => {
    const result = answer({ refreshTokenExpiresInSeconds: 604800 });
    expect(outcomeOf(await consent(repo(), result))).toBe('connected');
    const doc = await stored(result.sub);
    expect(doc).toEqual({
      sub: result.sub,
      email: result.email,
      state: 'active',
      scopes: [DRIVE, 'openid'], // normalised: sorted
      refreshToken: expect.any(String) as unknown,
      refreshTokenExpiresAt: Timestamp.fromMillis(NOW + 604800_000),
      accessToken: expect.any(String) as unknown,
      accessTokenExpiresAt: Timestamp.fromMillis(NOW + 3599_000),
      connectedAt: Timestamp.fromMillis(NOW),
      updatedAt: Timestamp.fromMillis(NOW),
      reconnectReason: null,
      refreshLease: null,
      lastRun: null,
      jobs: {},
      settingsUpdatedAt: null,
      appUserId: null,
      paused: null,
      // Google's Cross-Account Protection digest of the refresh token, never the token.
      refreshTokenHash: riscTokenHash(result.refreshToken!),
      dpopJkt: null,
      revokePendingSince: null,
      revokeRefusal: null,
      revokedAt: null,
    });
    // Sealed, and bound to this document and field.
    expect(doc?.refreshToken).not.toContain(result.refreshToken);
    expect(openToken(tokenKeys, result.sub, 'refreshToken', doc?.refreshToken ?? '')).toBe(
      result.refreshToken,
    );
    expect(() =>
      openToken(tokenKeys, `${result.sub}9`, 'refreshToken', doc?.refreshToken ?? ''),
    ).toThrow();
    // Both transports read it back the same.
    const viaRest = await backends.rest.read(result.sub);
    const viaGrpc = await backends.grpc.read(result.sub);
    expect(viaRest.connection).toEqual(viaGrpc.connection);
    expect(viaRest.connection?.accessTokenExpiresAt).toEqual(new Date(NOW + 3599_000));
  });

  it('reconnects over a stored connection, keeping when it was made and its last run', async () => {
    const first = answer();
    await consent(repo(), first);
    const lastRun = { runId: 'r1', outcome: 'ok', at: Timestamp.fromMillis(NOW + 1000) };
    await connectionRef(db, first.sub).update({ lastRun, state: 'needs-reconnect' });

    const again = { ...first, refreshToken: '1//newer', accessToken: 'ya29.newer' };
    expect(outcomeOf(await consent(repo(), again, NOW + 60_000))).toBe('reconnected');
    const doc = await stored(first.sub);
    expect(doc).toMatchObject({
      state: 'active',
      connectedAt: Timestamp.fromMillis(NOW),
      updatedAt: Timestamp.fromMillis(NOW + 60_000),
      lastRun,
      reconnectReason: null,
    });
    expect(openToken(tokenKeys, first.sub, 'refreshToken', doc?.refreshToken ?? '')).toBe(
      '1//newer',
    );
  });

  it('keeps the stored refresh token (and its expiry) when the answer has none', async () => {
    const first = answer({ refreshTokenExpiresInSeconds: 3600 });
    await consent(repo(), first);
    const without = { ...first, refreshToken: undefined, accessToken: 'ya29.second' };
    expect(outcomeOf(await consent(repo(), without, NOW + 5000))).toBe('reconnected');
    const doc = await stored(first.sub);
    expect(openToken(tokenKeys, first.sub, 'refreshToken', doc?.refreshToken ?? '')).toBe(
      first.refreshToken,
    );
    expect(doc?.refreshTokenExpiresAt).toEqual(Timestamp.fromMillis(NOW + 3600_000));
    expect(openToken(tokenKeys, first.sub, 'accessToken', doc?.accessToken ?? '')).toBe(
      'ya29.second',
    );
  });

  it('writes nothing without a refresh token to keep', async () => {
    const none = answer({ refreshToken: undefined });
    expect(outcomeOf(await consent(repo(), none))).toBe('needs-refresh-token');
    expect(await stored(none.sub)).toBeUndefined();

    // A connection that is not active has no refresh token to keep either.
    const reconnect = answer();
    await connectionRef(db, reconnect.sub).set({ sub: reconnect.sub, state: 'revoked' });
    const noToken = { ...reconnect, refreshToken: undefined };
    expect(outcomeOf(await consent(repo(), noToken))).toBe('needs-refresh-token');
    expect(await stored(reconnect.sub)).toEqual({ sub: reconnect.sub, state: 'revoked' });
    expect(outcomeOf(await consent(repo(), reconnect))).toBe('reconnected');
    expect((await stored(reconnect.sub))?.state).toBe('active');
  });

  it('refuses while a revocation is pending, writing nothing', async () => {
    const pending = answer();
    const before = { sub: pending.sub, state: 'revoke-pending', refreshToken: 'sealed-old' };
    await connectionRef(db, pending.sub).set(before);
    expect(outcomeOf(await consent(repo(), pending))).toBe('revoke-pending');
    expect(await stored(pending.sub)).toEqual(before);
  });

  it('stores one whole document when two consents of a new user race', async () => {
    const first = answer();
    const second = { ...first, refreshToken: '1//second', accessToken: 'ya29.second' };
    const outcomes = await Promise.all([consent(repo(), first), consent(repo(), second, NOW + 1)]);
    expect(outcomes.map(outcomeOf).sort()).toEqual(['connected', 'reconnected']);
    const doc = await stored(first.sub);
    const refresh = openToken(tokenKeys, first.sub, 'refreshToken', doc?.refreshToken ?? '');
    const access = openToken(tokenKeys, first.sub, 'accessToken', doc?.accessToken ?? '');
    // Whichever came last, its two tokens are stored together.
    expect([
      [first.refreshToken, first.accessToken],
      ['1//second', 'ya29.second'],
    ]).toContainEqual([refresh, access]);
  });

  it('revoke-pending keeps only what the retry needs; revoked keeps only the identity', async () => {
    const user = answer();
    await consent(repo(), user);
    const before = await stored(user.sub);
    const pending = await repo().markRevokePending(user.sub, {
      now: new Date(NOW + 1000),
      refusal: null,
      record: record(user.sub),
    });
    expect(pending.kind).toBe('written');
    expect(await stored(user.sub)).toEqual({
      sub: user.sub,
      email: null,
      state: 'revoke-pending',
      scopes: [],
      refreshToken: before?.refreshToken,
      refreshTokenExpiresAt: null,
      accessToken: null,
      accessTokenExpiresAt: null,
      connectedAt: null,
      updatedAt: Timestamp.fromMillis(NOW + 1000),
      reconnectReason: null,
      refreshLease: null,
      lastRun: null,
      jobs: {},
      settingsUpdatedAt: null,
      appUserId: null,
      paused: null,
      refreshTokenHash: null,
      dpopJkt: null,
      revokePendingSince: Timestamp.fromMillis(NOW + 1000),
      revokeRefusal: null,
      revokedAt: null,
    });
    const done = await repo().markRevoked(user.sub, {
      now: new Date(NOW + 2000),
      record: record(user.sub),
    });
    expect(done.kind).toBe('written');
    expect(await stored(user.sub)).toEqual({
      sub: user.sub,
      state: 'revoked',
      revokedAt: Timestamp.fromMillis(NOW + 2000),
      updatedAt: Timestamp.fromMillis(NOW + 2000),
    });
    const again = await repo().markRevoked(user.sub, {
      now: new Date(NOW + 3000),
      record: record(user.sub),
    });
    expect(again).toMatchObject({ kind: 'refused', refusal: 'revoked' });
  });

  it('a lease is busy for another holder until it lapses, and re-entrant for its own', async () => {
    const user = answer();
    await consent(repo(), user);
    expect((await repo().takeLease(user.sub, lease('a', NOW + 10_000))).kind).toBe('written');
    expect(await repo().takeLease(user.sub, lease('b'))).toMatchObject({
      kind: 'refused',
      refusal: 'busy',
    });
    expect((await repo().takeLease(user.sub, lease('a'))).kind).toBe('written');
    const lapsed = { ...lease('b'), now: new Date(NOW + 60_001) };
    expect((await repo().takeLease(user.sub, lapsed)).kind).toBe('written');
    expect((await stored(user.sub))?.refreshLease?.holder).toBe('b');
  });

  it('a stale read never takes a lease: the write conflicts, and the fresh read decides', async () => {
    const user = answer();
    await consent(repo(), user);
    const seen = await repo().read(user.sub);
    await repo().takeLease(user.sub, lease('b'));
    const late = await repo().takeLease(user.sub, { ...lease('a'), seen });
    expect(late).toMatchObject({ kind: 'refused', refusal: 'busy' });
    expect((await stored(user.sub))?.refreshLease?.holder).toBe('b');
  });

  it('a reconnect during a run wins: the run’s outcome is superseded, the new token kept', async () => {
    const user = answer();
    await consent(repo(), user);
    const held = await leased(repo(), user.sub, 'run-1');
    const reconnect = { ...user, refreshToken: '1//fresh', accessToken: 'ya29.fresh' };
    await consent(repo(), reconnect, NOW + 1000);
    expect(await repo().stillHeld(held)).toBe(false);
    const outcome = await repo().markNeedsReconnect(held, {
      runId: 'r1',
      outcome: 'needs-reconnect',
      now: new Date(NOW + 2000),
      reason: 'invalid_grant',
      destroyTokens: true,
    });
    expect(outcome).toMatchObject({ kind: 'refused', refusal: 'superseded' });
    const doc = await stored(user.sub);
    expect(doc?.state).toBe('active');
    expect(openToken(tokenKeys, user.sub, 'refreshToken', doc?.refreshToken ?? '')).toBe(
      '1//fresh',
    );
  });

  it('a revoke during a run wins: the run can neither record nor release', async () => {
    const user = answer();
    await consent(repo(), user);
    const held = await leased(repo(), user.sub, 'run-1');
    await repo().markRevoked(user.sub, { now: new Date(NOW + 1000), record: record(user.sub) });
    for (const write of [
      repo().recordRunOutcome(held, { runId: 'r1', outcome: 'ok', now: new Date(NOW + 2000) }),
      repo().releaseLease(held),
    ])
      expect(await write).toMatchObject({ kind: 'refused', refusal: 'superseded' });
    expect((await stored(user.sub))?.state).toBe('revoked');
  });

  it('the run records its outcome and releases the lease while it holds it', async () => {
    const user = answer();
    await consent(repo(), user);
    const held = await leased(repo(), user.sub, 'run-1');
    expect(await repo().stillHeld(held)).toBe(true);
    const ledger = { path: `runs/r1/ledger/${user.sub}`, data: { sub: user.sub, outcome: 'ok' } };
    const done = await repo().recordRunOutcome(
      held,
      { runId: 'r1', outcome: 'ok', now: new Date(NOW + 2000) },
      [ledger],
    );
    expect(done.kind).toBe('written');
    const doc = await stored(user.sub);
    expect(doc?.refreshLease).toBeNull();
    expect(doc?.lastRun).toEqual({
      runId: 'r1',
      outcome: 'ok',
      at: Timestamp.fromMillis(NOW + 2000),
    });
    expect((await db.doc(ledger.path).get()).data()).toEqual(ledger.data);
  });

  it('a ledger record that exists already is kept, and the connection still written', async () => {
    const user = answer();
    await consent(repo(), user);
    const path = `runs/r2/ledger/${user.sub}`;
    await db.doc(path).create({ first: true });
    const held = await leased(repo(), user.sub, 'run-2');
    const done = await repo().recordRunOutcome(
      held,
      { runId: 'r2', outcome: 'ok', now: new Date(NOW + 2000) },
      [{ path, data: { second: true } }],
    );
    expect(done.kind).toBe('written');
    expect((await db.doc(path).get()).data()).toEqual({ first: true });
    expect((await stored(user.sub))?.refreshLease).toBeNull();
  });
});

describe('Firestore REST values', () => {
  it('encodes like the client library: integers, doubles, timestamps, nested values', () => {
    expect(toValue(42)).toEqual({ integerValue: '42' });
    expect(toValue(1.5)).toEqual({ doubleValue: 1.5 });
    expect(toValue(2 ** 60)).toEqual({ doubleValue: 2 ** 60 });
    expect(toValue(true)).toEqual({ booleanValue: true });
    expect(toValue(null)).toEqual({ nullValue: 'NULL_VALUE' });
    expect(toValue(new Date(NOW))).toEqual({ timestampValue: '2026-11-22T10:00:00.000Z' });
    expect(toValue(['a', { b: [] }])).toEqual({
      arrayValue: {
        values: [
          { stringValue: 'a' },
          { mapValue: { fields: { b: { arrayValue: { values: [] } } } } },
        ],
      },
    });
    expect(toFields({ kept: 'x', dropped: undefined })).toEqual({ kept: { stringValue: 'x' } });
    expect(() => toValue(new Date(Number.NaN))).toThrow(TypeError);
  });
});

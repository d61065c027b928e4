// The callback's REST write (shared/store/consent-store.ts) against the real Firestore emulator,
// read back with @google-cloud/firestore, the client every other part of the project reads with:
// both must see the same document, field types included.
import { Timestamp, type Firestore } from '@google-cloud/firestore';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeysetJson, parseKeyset } from '../../shared/crypto/keyset.ts';
import type { CodeExchangeResult } from '../../shared/oauth/callback.ts';
import { storeConsent } from '../../shared/store/consent-store.ts';
import { connectionRef, openToken, type ConnectionDoc } from '../../shared/store/connections.ts';
import { createFirestore } from '../../shared/store/firestore.ts';
import {
  createFirestoreDocuments,
  type FirestoreDocuments,
} from '../../shared/store/firestore-rest.ts';
import { toFields, toValue } from '../../shared/store/firestore-values.ts';

const settings = {
  projectId: `demo-store-${randomBytes(3).toString('hex')}`,
  firestoreDatabase: '(default)',
  firestoreEmulatorHost: process.env.FIRESTORE_EMULATOR_HOST,
};
const tokenKeys = parseKeyset(generateKeysetJson('k1')).forPurpose('token');
const NOW = Date.parse('2026-11-22T10:00:00.000Z');
const DRIVE = 'https://www.googleapis.com/auth/drive.file';

let db: Firestore;
let documents: FirestoreDocuments;
let users = 0;

beforeAll(async () => {
  expect(settings.firestoreEmulatorHost, 'run through npm test').toBeTruthy();
  db = await createFirestore(settings);
  documents = await createFirestoreDocuments(settings);
});
afterAll(() => db.terminate());

function consent(overrides: Partial<CodeExchangeResult> = {}): CodeExchangeResult {
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

async function stored(sub: string): Promise<ConnectionDoc | undefined> {
  const snapshot = await connectionRef(db, sub).get();
  return snapshot.exists ? (snapshot.data() as ConnectionDoc) : undefined;
}

describe('storeConsent', () => {
  it('stores a first connection that Google’s client reads with the usual types', async () => {
    const result = consent({ refreshTokenExpiresInSeconds: 604800 });
    expect(await storeConsent(documents, tokenKeys, result, NOW)).toBe('connected');
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
      revokePendingSince: null,
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
  });

  it('reconnects over a stored connection, keeping when it was made and its last run', async () => {
    const first = consent();
    await storeConsent(documents, tokenKeys, first, NOW);
    const lastRun = { runId: 'r1', outcome: 'exported', at: Timestamp.fromMillis(NOW + 1000) };
    await connectionRef(db, first.sub).update({ lastRun, state: 'needs-reconnect' });

    const again = { ...first, refreshToken: '1//newer', accessToken: 'ya29.newer' };
    expect(await storeConsent(documents, tokenKeys, again, NOW + 60_000)).toBe('reconnected');
    const doc = await stored(first.sub);
    expect(doc).toMatchObject({
      state: 'active',
      connectedAt: Timestamp.fromMillis(NOW),
      updatedAt: Timestamp.fromMillis(NOW + 60_000),
      lastRun,
    });
    expect(openToken(tokenKeys, first.sub, 'refreshToken', doc?.refreshToken ?? '')).toBe(
      '1//newer',
    );
  });

  it('keeps the stored refresh token (and its expiry) when the answer has none', async () => {
    const first = consent({ refreshTokenExpiresInSeconds: 3600 });
    await storeConsent(documents, tokenKeys, first, NOW);
    const without = { ...first, refreshToken: undefined, accessToken: 'ya29.second' };
    expect(await storeConsent(documents, tokenKeys, without, NOW + 5000)).toBe('reconnected');
    const doc = await stored(first.sub);
    expect(openToken(tokenKeys, first.sub, 'refreshToken', doc?.refreshToken ?? '')).toBe(
      first.refreshToken,
    );
    expect(doc?.refreshTokenExpiresAt).toEqual(Timestamp.fromMillis(NOW + 3600_000));
    expect(openToken(tokenKeys, first.sub, 'accessToken', doc?.accessToken ?? '')).toBe(
      'ya29.second',
    );
  });

  it('writes nothing without a refresh token to keep, and releases its transaction', async () => {
    const none = consent({ refreshToken: undefined });
    expect(await storeConsent(documents, tokenKeys, none, NOW)).toBe('needs-refresh-token');
    expect(await stored(none.sub)).toBeUndefined();

    // A connection that is not active has no refresh token to keep either.
    const reconnect = consent();
    await connectionRef(db, reconnect.sub).set({ sub: reconnect.sub, state: 'revoked' });
    const answer = { ...reconnect, refreshToken: undefined };
    expect(await storeConsent(documents, tokenKeys, answer, NOW)).toBe('needs-refresh-token');
    expect(await stored(reconnect.sub)).toEqual({ sub: reconnect.sub, state: 'revoked' });
    // The transaction was rolled back: the document's lock is free for the next writer.
    expect(await storeConsent(documents, tokenKeys, reconnect, NOW)).toBe('reconnected');
    expect((await stored(reconnect.sub))?.state).toBe('active');
  });

  it('refuses while a revocation is pending, writing nothing', async () => {
    const pending = consent();
    const before = { sub: pending.sub, state: 'revoke-pending', refreshToken: 'sealed-old' };
    await connectionRef(db, pending.sub).set(before);
    expect(await storeConsent(documents, tokenKeys, pending, NOW)).toBe('revoke-pending');
    expect(await stored(pending.sub)).toEqual(before);
  });

  it('stores one whole document when two consents of a new user race', async () => {
    const first = consent();
    const second = { ...first, refreshToken: '1//second', accessToken: 'ya29.second' };
    const outcomes = await Promise.all([
      storeConsent(documents, tokenKeys, first, NOW),
      storeConsent(documents, tokenKeys, second, NOW + 1),
    ]);
    expect(outcomes.sort()).toEqual(['connected', 'reconnected']);
    const doc = await stored(first.sub);
    const refresh = openToken(tokenKeys, first.sub, 'refreshToken', doc?.refreshToken ?? '');
    const access = openToken(tokenKeys, first.sub, 'accessToken', doc?.accessToken ?? '');
    // Whichever came last, its two tokens are stored together.
    expect([
      [first.refreshToken, first.accessToken],
      ['1//second', 'ya29.second'],
    ]).toContainEqual([refresh, access]);
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

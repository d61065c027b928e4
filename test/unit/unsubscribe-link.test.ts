// Signed unsubscribe links: round trip, expiry, tampering, other keys, rotation.
import { describe, expect, it } from 'vitest';
import { generateKeysetJson, parseKeyset, rotateKeysetJson } from '../../shared/crypto/keyset.ts';
import { AppError } from '../../shared/errors.ts';
import { createUnsubscribeLink, verifyUnsubscribeLink } from '../../shared/web/unsubscribe-link.ts';

const REVOKE_URL = 'https://cv.example.com/revoke';
const NOW = Date.UTC(2030, 0, 1);
const SUB = '104857600000000000001';
const json = generateKeysetJson('k1');
const keys = parseKeyset(json).forPurpose('link');

function link(sub = SUB, expiresAt = NOW + 3600_000, linkKeys = keys): URL {
  return new URL(createUnsubscribeLink(linkKeys, REVOKE_URL, sub, expiresAt));
}

function flipLast(value: string): string {
  return `${value.slice(0, -1)}${value.endsWith('A') ? 'B' : 'A'}`;
}

function verifyError(params: URLSearchParams, now = NOW, linkKeys = keys): AppError {
  try {
    verifyUnsubscribeLink(linkKeys, params, now);
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    return error as AppError;
  }
  throw new Error('the link was accepted');
}

describe('unsubscribe links', () => {
  it('round-trips: the revoke URL plus u, e, k, s; verified back to the user', () => {
    const url = link();
    expect(`${url.origin}${url.pathname}`).toBe(REVOKE_URL);
    expect([...url.searchParams.keys()]).toEqual(['u', 'e', 'k', 's']);
    expect(url.searchParams.get('e')).toBe(String((NOW + 3600_000) / 1000));
    const verified = verifyUnsubscribeLink(keys, url.searchParams, NOW);
    expect(verified.sub).toBe(SUB);
    expect(verified.fields).toEqual(Object.fromEntries(url.searchParams));
    // The link-purpose key only: the link carries no token and no key material.
    expect(url.toString()).not.toContain((JSON.parse(json) as { keys: { k1: string } }).keys.k1);
  });

  it('expires: valid up to its second, 410 after', () => {
    const url = link(SUB, NOW + 60_000);
    expect(verifyUnsubscribeLink(keys, url.searchParams, NOW + 60_000).sub).toBe(SUB);
    const error = verifyError(url.searchParams, NOW + 61_000);
    expect(error.code).toBe('link_invalid');
    expect(error.status).toBe(410);
  });

  it('refuses every tampered field with 400', () => {
    const url = link();
    const tamper: Array<Record<string, string>> = [
      { u: '104857600000000000002' },
      { e: String(Number(url.searchParams.get('e')) + 1) },
      { k: 'k2' },
      { s: flipLast(url.searchParams.get('s')!) },
      { s: '' },
      { s: 'x'.repeat(65) },
      { u: '../etc' },
      { e: '-1' },
      { e: '1e10' },
    ];
    for (const change of tamper) {
      const params = new URLSearchParams(url.searchParams);
      for (const [name, value] of Object.entries(change)) params.set(name, value);
      const error = verifyError(params);
      expect(error.status, JSON.stringify(change)).toBe(400);
    }
    for (const name of ['u', 'e', 'k', 's']) {
      const params = new URLSearchParams(url.searchParams);
      params.delete(name);
      expect(verifyError(params).status, name).toBe(400);
      const repeated = new URLSearchParams(url.searchParams);
      repeated.append(name, url.searchParams.get(name)!);
      expect(verifyError(repeated).status, name).toBe(400);
    }
  });

  it('refuses a link signed with another keyset or another purpose key', () => {
    const otherKeys = parseKeyset(generateKeysetJson('k1')).forPurpose('link');
    expect(verifyError(link(SUB, NOW + 3600_000, otherKeys).searchParams).status).toBe(400);
    const tokenKeys = parseKeyset(json).forPurpose('token');
    expect(verifyError(link(SUB, NOW + 3600_000, tokenKeys).searchParams).status).toBe(400);
  });

  it('keeps working across a key rotation (k1 links verify once k2 is primary)', () => {
    const old = link();
    const rotated = parseKeyset(rotateKeysetJson(json, 'k2')).forPurpose('link');
    expect(verifyUnsubscribeLink(rotated, old.searchParams, NOW).sub).toBe(SUB);
    expect(link(SUB, NOW + 3600_000, rotated).searchParams.get('k')).toBe('k2');
  });
});

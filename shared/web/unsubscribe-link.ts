// Signed unsubscribe links the app can put in emails: revoke URL + user + expiry + key id +
// HMAC-SHA256 (with the keyset's link-purpose key). GET shows a confirmation page and POST acts,
// so link scanners that prefetch URLs change nothing.
import { createHmac } from 'node:crypto';
import type { PurposeKeys } from '../crypto/keyset.ts';
import { AppError } from '../errors.ts';
import { safeEqual, singleParam } from './http.ts';
import { isValidSub } from '../store/connection/document.ts';

function signature(key: Buffer, sub: string, expiresAtSeconds: number): string {
  return createHmac('sha256', key)
    .update(`unsubscribe\n${sub}\n${expiresAtSeconds}`)
    .digest('base64url');
}

export function createUnsubscribeLink(
  keys: PurposeKeys,
  revokeUrl: string,
  sub: string,
  expiresAtMs: number,
): string {
  const key = keys.keys.get(keys.primaryId);
  if (!key) throw new Error('primary link key missing');
  const expiresAt = Math.floor(expiresAtMs / 1000);
  const url = new URL(revokeUrl);
  url.searchParams.set('u', sub);
  url.searchParams.set('e', String(expiresAt));
  url.searchParams.set('k', keys.primaryId);
  url.searchParams.set('s', signature(key, sub, expiresAt));
  return url.toString();
}

export interface VerifiedLink {
  readonly sub: string;
  /** The fields to carry into the confirmation form, exactly as received. */
  readonly fields: Readonly<Record<string, string>>;
}

export function verifyUnsubscribeLink(
  keys: PurposeKeys,
  params: URLSearchParams,
  now: number,
): VerifiedLink {
  const invalid = () =>
    new AppError(
      'link_invalid',
      400,
      'This unsubscribe link is not valid. Please use the latest link we sent you.',
    );
  const sub = singleParam(params, 'u', { maxLength: 255 });
  const expires = singleParam(params, 'e', { maxLength: 12 });
  const keyId = singleParam(params, 'k', { maxLength: 32 });
  const sig = singleParam(params, 's', { maxLength: 64 });
  if (sub === undefined || expires === undefined || keyId === undefined || sig === undefined)
    throw invalid();
  const key = keys.keys.get(keyId);
  if (!isValidSub(sub) || !/^\d{1,12}$/.test(expires) || key === undefined) throw invalid();
  if (!safeEqual(sig, signature(key, sub, Number(expires)))) throw invalid();
  if (Number(expires) * 1000 < now)
    throw new AppError(
      'link_invalid',
      410,
      'This unsubscribe link has expired. Please use the latest link we sent you.',
    );
  return { sub, fields: { u: sub, e: expires, k: keyId, s: sig } };
}

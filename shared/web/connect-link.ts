// Connect links bound to one of the app's own users (docs/jobs.md#connect-links): the app's
// backend mints a short-lived link for its user id, authorize verifies it and carries the user id
// through the sealed transaction, and the callback claims the link's nonce once and stores the id
// on the connection. Signed like the unsubscribe links (HMAC-SHA256 with the keyset's link key),
// under a distinct label, so neither kind of link can stand in for the other.
import { createHmac, randomBytes } from 'node:crypto';
import type { PurposeKeys } from '../crypto/keyset.ts';
import { AppError } from '../errors.ts';
import { safeEqual, singleParam } from './http.ts';

/** The app's own user ids: opaque, short, URL- and document-id-safe. */
export const APP_USER_ID = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$/;
/** A connect link is for a person about to click it: at most an hour. */
export const CONNECT_LINK_MAX_SECONDS = 3600;

export interface ConnectLink {
  readonly appUserId: string;
  /** Single use: the callback claims it (connectLinks/{nonce}). */
  readonly nonce: string;
  readonly expiresAt: number;
}

function signature(
  key: Buffer,
  link: { appUserId: string; nonce: string; expires: number },
): string {
  return createHmac('sha256', key)
    .update(`connect\n${link.appUserId}\n${link.nonce}\n${link.expires}`)
    .digest('base64url');
}

export function createConnectLink(
  keys: PurposeKeys,
  authorizeUrl: string,
  input: { appUserId: string; expiresAtMs: number },
): { url: string; link: ConnectLink } {
  if (!APP_USER_ID.test(input.appUserId)) throw new RangeError('malformed app user id');
  const key = keys.keys.get(keys.primaryId);
  if (!key) throw new Error('primary link key missing');
  const expires = Math.floor(input.expiresAtMs / 1000);
  const nonce = randomBytes(16).toString('base64url');
  const url = new URL(authorizeUrl);
  url.searchParams.set('app_user', input.appUserId);
  url.searchParams.set('cn', nonce);
  url.searchParams.set('ce', String(expires));
  url.searchParams.set('ck', keys.primaryId);
  url.searchParams.set('cs', signature(key, { appUserId: input.appUserId, nonce, expires }));
  return {
    url: url.toString(),
    link: { appUserId: input.appUserId, nonce, expiresAt: expires * 1000 },
  };
}

/** The link's fields, verified; undefined when the request carries none. */
export function verifyConnectLink(
  keys: PurposeKeys,
  params: URLSearchParams,
  now: number,
): ConnectLink | undefined {
  const appUserId = singleParam(params, 'app_user', { maxLength: 128 });
  if (appUserId === undefined) return undefined;
  const invalid = () =>
    new AppError(
      'link_invalid',
      400,
      'This connect link is not valid. Please start again from the app.',
    );
  const nonce = singleParam(params, 'cn', { maxLength: 64 });
  const expires = singleParam(params, 'ce', { maxLength: 12 });
  const keyId = singleParam(params, 'ck', { maxLength: 32 });
  const sig = singleParam(params, 'cs', { maxLength: 64 });
  if (nonce === undefined || expires === undefined || keyId === undefined || sig === undefined)
    throw invalid();
  const key = keys.keys.get(keyId);
  if (
    !APP_USER_ID.test(appUserId) ||
    !/^[A-Za-z0-9_-]{16,64}$/.test(nonce) ||
    !/^\d{1,12}$/.test(expires) ||
    key === undefined
  )
    throw invalid();
  if (!safeEqual(sig, signature(key, { appUserId, nonce, expires: Number(expires) })))
    throw invalid();
  if (Number(expires) * 1000 < now)
    throw new AppError(
      'link_invalid',
      410,
      'This connect link has expired. Please start again from the app.',
    );
  return { appUserId, nonce, expiresAt: Number(expires) * 1000 };
}

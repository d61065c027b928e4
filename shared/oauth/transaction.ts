// The authorization transaction: what the callback needs to finish a consent (state, PKCE
// verifier, nonce, return target, expiry), sealed with AES-256-GCM into a `__Host-` cookie. No
// database write on authorize; the cookie binds the flow to the browser that started it, and the
// callback clears it (and records the state server-side), so it is single use (RFC 9700 §2.1,
// §4.7). Each transaction has its own cookie, named after its state, so two consent tabs both
// finish, and an answer for another (or a forged) state never touches this one.
import { createHash } from 'node:crypto';
import { open, seal } from '../crypto/aead.ts';
import type { ConnectLink } from '../web/connect-link.ts';
import type { PurposeKeys } from '../crypto/keyset.ts';

const TRANSACTION_COOKIE_PREFIX = '__Host-cv-tx-';

/** Transactions one browser may have open at once; authorize drops the oldest beyond this. */
export const MAX_OPEN_TRANSACTIONS = 4;

/** The cookie of the transaction with this state: a short hash of it, never the state itself. */
export function transactionCookieName(state: string): string {
  return `${TRANSACTION_COOKIE_PREFIX}${stateHash(state).slice(0, 16)}`;
}

export function isTransactionCookie(name: string): boolean {
  return name.startsWith(TRANSACTION_COOKIE_PREFIX);
}

/** SHA-256 of the state, hex: the server-side record's id (the state itself is never stored). */
export function stateHash(state: string): string {
  return createHash('sha256').update(state).digest('hex');
}

export interface AuthTransaction {
  readonly state: string;
  readonly codeVerifier: string;
  readonly nonce: string;
  readonly returnTo: string | null;
  /** Epoch ms after which the callback refuses it. */
  readonly expiresAt: number;
  /** This transaction already asked Google for `prompt=consent` (restart at most once). */
  readonly promptedConsent: boolean;
  readonly loginHint: string | null;
  /** The connect link this consent started from (the app's user), if any. */
  readonly connect: ConnectLink | null;
}

interface Wire {
  s: string;
  v: string;
  n: string;
  r: string | null;
  e: number;
  p: boolean;
  h: string | null;
  c?: { u: string; n: string; e: number } | null;
}

export function sealTransaction(keys: PurposeKeys, transaction: AuthTransaction): string {
  const wire: Wire = {
    s: transaction.state,
    v: transaction.codeVerifier,
    n: transaction.nonce,
    r: transaction.returnTo,
    e: transaction.expiresAt,
    p: transaction.promptedConsent,
    h: transaction.loginHint,
    c: transaction.connect && {
      u: transaction.connect.appUserId,
      n: transaction.connect.nonce,
      e: transaction.connect.expiresAt,
    },
  };
  return seal(keys, JSON.stringify(wire), transactionCookieName(transaction.state));
}

/**
 * Opens the sealed transaction found under `cookieName`; undefined when it was tampered with, is
 * not ours, or was sealed under another cookie name.
 */
export function openTransaction(
  keys: PurposeKeys,
  cookieName: string,
  sealed: string,
): AuthTransaction | undefined {
  let wire: Partial<Wire>;
  try {
    wire = JSON.parse(open(keys, sealed, cookieName).toString('utf8')) as Partial<Wire>;
  } catch {
    return undefined;
  }
  if (
    typeof wire.s !== 'string' ||
    typeof wire.v !== 'string' ||
    typeof wire.n !== 'string' ||
    typeof wire.e !== 'number' ||
    typeof wire.p !== 'boolean'
  )
    return undefined;
  return {
    state: wire.s,
    codeVerifier: wire.v,
    nonce: wire.n,
    returnTo: typeof wire.r === 'string' ? wire.r : null,
    expiresAt: wire.e,
    promptedConsent: wire.p,
    loginHint: typeof wire.h === 'string' ? wire.h : null,
    connect:
      wire.c && typeof wire.c.u === 'string' && typeof wire.c.n === 'string'
        ? { appUserId: wire.c.u, nonce: wire.c.n, expiresAt: Number(wire.c.e) }
        : null,
  };
}

/**
 * The transaction cookies to clear so that, with a new one, at most MAX_OPEN_TRANSACTIONS stay:
 * the oldest first, and any that cannot be opened.
 */
export function staleTransactionCookies(
  keys: PurposeKeys,
  cookies: ReadonlyMap<string, string>,
): string[] {
  const open: { name: string; expiresAt: number }[] = [];
  const stale: string[] = [];
  for (const [name, sealed] of cookies) {
    if (!isTransactionCookie(name)) continue;
    const transaction = openTransaction(keys, name, sealed);
    if (transaction === undefined) stale.push(name);
    else open.push({ name, expiresAt: transaction.expiresAt });
  }
  open.sort((a, b) => a.expiresAt - b.expiresAt);
  const excess = open.length - (MAX_OPEN_TRANSACTIONS - 1);
  for (const { name } of open.slice(0, Math.max(0, excess))) stale.push(name);
  return stale;
}

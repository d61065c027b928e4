// Google's Security Event Tokens (Cross-Account Protection, RISC; RFC 8417), verified as Google
// asks (docs/google-behaviours.md#cross-account-protection): RS256 only, the key from the JWKS
// that RISC discovery names (an unknown `kid` refetches it once, jose's remote key set), `iss`
// equal to discovery's `issuer`, `aud` our client id, and no `exp` check (events are historical).
// Only the fields the receiver acts on are read; everything else in a token is ignored.
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { AppError } from '../errors.ts';

const OAUTH = 'https://schemas.openid.net/secevent/oauth/event-type/';
const RISC = 'https://schemas.openid.net/secevent/risc/event-type/';

/** The event types, by their short names. */
export const SECURITY_EVENTS = {
  [`${OAUTH}tokens-revoked`]: 'tokens-revoked',
  [`${OAUTH}token-revoked`]: 'token-revoked',
  [`${RISC}account-disabled`]: 'account-disabled',
  [`${RISC}account-enabled`]: 'account-enabled',
  [`${RISC}sessions-revoked`]: 'sessions-revoked',
  [`${RISC}account-credential-change-required`]: 'account-credential-change-required',
  [`${RISC}verification`]: 'verification',
} as const;
export type SecurityEventKind = (typeof SECURITY_EVENTS)[keyof typeof SECURITY_EVENTS];

export interface SecurityEvent {
  readonly jti: string;
  readonly kind: SecurityEventKind | 'unknown';
  /** The event type URI as sent. */
  readonly type: string;
  /** iss-sub subjects: the Google user. */
  readonly sub: string | undefined;
  /** token-revoked: base64 SHA-512(SHA-512(refresh token)). */
  readonly tokenHash: string | undefined;
  readonly reason: string | undefined;
  /** verification: the state the stream:verify call sent. */
  readonly state: string | undefined;
}

export interface RiscDiscovery {
  readonly issuer: string;
  readonly jwksUri: string;
}

/** RISC discovery, read once per instance (and again after a failure). */
export function riscDiscovery(
  configurationUrl: string,
  fetchFn: typeof fetch = fetch,
): () => Promise<{ discovery: RiscDiscovery; keys: JWTVerifyGetKey }> {
  let loaded: Promise<{ discovery: RiscDiscovery; keys: JWTVerifyGetKey }> | undefined;
  return () => {
    loaded ??= (async () => {
      const answer = await fetchFn(configurationUrl, { signal: AbortSignal.timeout(10_000) });
      if (!answer.ok) throw new Error(`RISC discovery answered ${answer.status}`);
      const document = (await answer.json()) as { issuer?: unknown; jwks_uri?: unknown };
      if (typeof document.issuer !== 'string' || typeof document.jwks_uri !== 'string')
        throw new Error('RISC discovery lacks issuer or jwks_uri');
      const discovery = { issuer: document.issuer, jwksUri: document.jwks_uri };
      // An unknown kid refetches the keys (Google rotates them), at most once a second: forged
      // kids cannot make us hammer Google's JWKS.
      return {
        discovery,
        keys: createRemoteJWKSet(new URL(discovery.jwksUri), { cooldownDuration: 1000 }),
      };
    })();
    loaded.catch(() => (loaded = undefined));
    return loaded;
  };
}

const invalid = (why: string) =>
  new AppError('bad_request', 400, 'Not a valid security event token.', { detail: why });

/** The event a token carries; 400 (AppError) for anything that is not a valid token of ours. */
export async function verifySecurityEvent(
  token: string | undefined,
  input: {
    readonly clientIds: readonly string[];
    readonly discovery: RiscDiscovery;
    readonly keys: JWTVerifyGetKey;
  },
): Promise<SecurityEvent> {
  if (token === undefined || !/^[\w-]+\.[\w-]+\.[\w-]+$/.test(token.trim()))
    throw invalid('no compact JWT in the body');
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token.trim(), input.keys, {
      algorithms: ['RS256'],
      issuer: input.discovery.issuer,
      audience: [...input.clientIds],
      // No exp check: security events are historical (Google's receiver guide).
      clockTolerance: Number.MAX_SAFE_INTEGER,
    }));
  } catch (error) {
    throw invalid(error instanceof Error ? error.name : 'unverifiable');
  }
  const jti = payload.jti;
  const events = payload.events;
  if (typeof jti !== 'string' || jti === '' || jti.length > 256) throw invalid('no jti');
  if (typeof events !== 'object' || events === null) throw invalid('no events');
  const [entry] = Object.entries(events as Record<string, unknown>);
  if (!entry) throw invalid('no event');
  const [type, body] = entry;
  const event = (typeof body === 'object' && body !== null ? body : {}) as {
    subject?: {
      subject_type?: unknown;
      sub?: unknown;
      token?: unknown;
      token_identifier_alg?: unknown;
    };
    reason?: unknown;
    state?: unknown;
  };
  const subject = event.subject ?? {};
  return {
    jti,
    type,
    kind: (SECURITY_EVENTS as Record<string, SecurityEventKind>)[type] ?? 'unknown',
    sub:
      subject.subject_type === 'iss-sub' && typeof subject.sub === 'string'
        ? subject.sub
        : undefined,
    tokenHash:
      subject.subject_type === 'oauth_token' &&
      subject.token_identifier_alg === 'hash_base64_sha512_sha512' &&
      typeof subject.token === 'string'
        ? subject.token
        : undefined,
    reason: typeof event.reason === 'string' ? event.reason : undefined,
    state: typeof event.state === 'string' ? event.state : undefined,
  };
}

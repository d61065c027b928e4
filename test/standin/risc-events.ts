// The vocabulary of Cross-Account Protection (RISC): event type URIs, subjects and the payload
// of a Security Event Token (RFC 8417), shaped as Google sends them. Pure functions: signing is
// risc-keys.ts, delivery risc-stream.ts.
import { createHash, randomBytes } from 'node:crypto';
import { GOOGLE_ISSUER } from './id-tokens.ts';

/**
 * `iss` of every SET and `issuer` of the RISC discovery document. Google's RISC issuer is the
 * ID-token issuer WITH a trailing slash, so a receiver that reuses the ID-token issuer string
 * fails against Google; the stand-in keeps that difference.
 */
export const RISC_ISSUER = `${GOOGLE_ISSUER}/`;

/** The audience of the service-account JWT that the stream management API accepts. */
export const RISC_MANAGEMENT_AUDIENCE =
  'https://risc.googleapis.com/google.identity.risc.v1beta.RiscManagementService';

export const PUSH_DELIVERY_METHOD = 'https://schemas.openid.net/secevent/risc/delivery-method/push';

const OAUTH_EVENT = 'https://schemas.openid.net/secevent/oauth/event-type/';
const RISC_EVENT = 'https://schemas.openid.net/secevent/risc/event-type/';

/** Short name → event type URI, for every event Google sends. */
export const RISC_EVENT_TYPES = {
  'tokens-revoked': `${OAUTH_EVENT}tokens-revoked`,
  'token-revoked': `${OAUTH_EVENT}token-revoked`,
  'account-disabled': `${RISC_EVENT}account-disabled`,
  'account-enabled': `${RISC_EVENT}account-enabled`,
  'sessions-revoked': `${RISC_EVENT}sessions-revoked`,
  'account-credential-change-required': `${RISC_EVENT}account-credential-change-required`,
  verification: `${RISC_EVENT}verification`,
} as const;

export type RiscEventName = keyof typeof RISC_EVENT_TYPES;

/** Events about one user (all but verification, which is about the stream). */
export type RiscUserEventName = Exclude<RiscEventName, 'verification'>;

export const RISC_USER_EVENT_NAMES = Object.keys(RISC_EVENT_TYPES).filter(
  (n) => n !== 'verification',
) as RiscUserEventName[];

export type AccountDisabledReason = 'hijacking' | 'bulk-account';
export type TokenIdentifierAlg = 'hash_base64_sha512_sha512' | 'prefix';

/** An account event's subject: the issuer and the user's Google account id (`sub`). */
export function accountSubject(sub: string): Record<string, string> {
  return { subject_type: 'iss-sub', iss: RISC_ISSUER, sub };
}

/**
 * token-revoked names one refresh token without sending it: Google's
 * `hash_base64_sha512_sha512`, or `prefix` (its first 16 characters).
 */
export function refreshTokenSubject(
  refreshToken: string,
  alg: TokenIdentifierAlg = 'hash_base64_sha512_sha512',
): Record<string, string> {
  return {
    subject_type: 'oauth_token',
    token_type: 'refresh_token',
    token_identifier_alg: alg,
    token: alg === 'prefix' ? refreshToken.slice(0, 16) : refreshTokenHash(refreshToken),
  };
}

/** base64(SHA-512(SHA-512(token))): the outer hash takes the inner digest's raw 64 bytes, not hex. */
export function refreshTokenHash(refreshToken: string): string {
  const inner = createHash('sha512').update(refreshToken, 'utf8').digest();
  return createHash('sha512').update(inner).digest('base64');
}

export interface SetPayloadInput {
  /** The OAuth client id the SET is for (`aud`). */
  clientId: string;
  event: RiscEventName;
  /** The user's `sub` (account events). */
  sub?: string;
  reason?: AccountDisabledReason;
  /** verification only. */
  state?: string;
  /** token-revoked only. */
  refreshToken?: string;
  tokenIdentifierAlg?: TokenIdentifierAlg;
}

/**
 * The claims of one SET: `iss`, `aud`, `iat` (real wall time, like ID tokens: receivers judge it
 * against their own clock), a unique `jti`, and one event. No `exp`: events are historical.
 */
export function setPayload(input: SetPayloadInput): Record<string, unknown> {
  return {
    iss: RISC_ISSUER,
    aud: input.clientId,
    iat: Math.floor(Date.now() / 1000),
    jti: randomBytes(16).toString('hex'),
    events: { [RISC_EVENT_TYPES[input.event]]: eventBody(input) },
  };
}

function eventBody(input: SetPayloadInput): Record<string, unknown> {
  switch (input.event) {
    case 'verification':
      // About the stream, not a user: only the state the caller of stream:verify chose.
      return input.state === undefined ? {} : { state: input.state };
    case 'token-revoked':
      if (input.refreshToken === undefined) throw new RangeError('token-revoked needs a token');
      return { subject: refreshTokenSubject(input.refreshToken, input.tokenIdentifierAlg) };
    default: {
      if (input.sub === undefined) throw new RangeError(`${input.event} needs a subject`);
      const body: Record<string, unknown> = { subject: accountSubject(input.sub) };
      if (input.event === 'account-disabled' && input.reason !== undefined)
        body['reason'] = input.reason;
      return body;
    }
  }
}

/** The short name of an event type URI, or undefined for one Google does not send. */
export function eventNameOf(uri: string): RiscEventName | undefined {
  return (Object.keys(RISC_EVENT_TYPES) as RiscEventName[]).find(
    (n) => RISC_EVENT_TYPES[n] === uri,
  );
}

// Google-signed ID tokens. iat/exp use REAL wall time (Date.now()), not the controllable clock:
// google-auth-library's verifyIdToken checks them against Date.now(), so a shifted clock would
// make every token "used too early/late".
import { createHash } from 'node:crypto';
import { signJwt, type KeySet } from './keys.ts';
import { subjectFor } from './ids.ts';
import { USERINFO_EMAIL, USERINFO_PROFILE } from './scopes.ts';

export const GOOGLE_ISSUER = 'https://accounts.google.com';
const ID_TOKEN_LIFETIME_S = 3600;

export interface UserIdTokenInput {
  clientId: string;
  email: string;
  scopes: readonly string[];
  nonce?: string | undefined;
  accessToken?: string;
  /** Instead of the user's own (the stand-in's token shape control). */
  sub?: string | undefined;
}

/** Like Google: `email`/`email_verified` only with the email scope, `name` only with profile. */
export function mintUserIdToken(keys: KeySet, input: UserIdTokenInput): string {
  const iat = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {
    iss: GOOGLE_ISSUER,
    azp: input.clientId,
    aud: input.clientId,
    sub: input.sub ?? subjectFor(input.email),
  };
  if (input.scopes.includes(USERINFO_EMAIL)) {
    claims['email'] = input.email;
    claims['email_verified'] = true;
  }
  if (input.accessToken) claims['at_hash'] = accessTokenHash(input.accessToken);
  if (input.nonce !== undefined) claims['nonce'] = input.nonce;
  if (input.scopes.includes(USERINFO_PROFILE)) claims['name'] = displayName(input.email);
  claims['iat'] = iat;
  claims['exp'] = iat + ID_TOKEN_LIFETIME_S;
  return signJwt(keys.signing, claims);
}

/** What the metadata server hands a service account (e.g. Cloud Scheduler's OIDC token). */
export function mintServiceAccountIdToken(
  keys: KeySet,
  input: { email: string; audience: string },
): string {
  const iat = Math.floor(Date.now() / 1000);
  const sub = subjectFor(input.email);
  return signJwt(keys.signing, {
    aud: input.audience,
    azp: sub,
    email: input.email,
    email_verified: true,
    exp: iat + ID_TOKEN_LIFETIME_S,
    iat,
    iss: GOOGLE_ISSUER,
    sub,
  });
}

/** OIDC Core §3.1.3.6: left half of SHA-256 of the access token, base64url. */
function accessTokenHash(accessToken: string): string {
  return createHash('sha256').update(accessToken).digest().subarray(0, 16).toString('base64url');
}

function displayName(email: string): string {
  const local = email.split('@')[0] ?? email;
  return local
    .split(/[._-]+/)
    .filter(Boolean)
    .map((w) => w[0]?.toUpperCase() + w.slice(1))
    .join(' ');
}

// Certificates (PEM map of X.509 certificates, and JWKS) and the OpenID discovery document.
import type { StandInCore } from './core.ts';
import { jsonReply, type Reply } from './http.ts';
import type { StandInEndpoints } from './types.ts';

export const CERTS_PEM_PATH = '/oauth2/v1/certs';
export const CERTS_JWKS_PATH = '/oauth2/v3/certs';
export const DISCOVERY_PATH = '/.well-known/openid-configuration';

/** google-auth-library caches certificates for max-age seconds, as it does with Google's. */
const CERTS_CACHE = 'public, max-age=21600, must-revalidate, no-transform';

export function handleCertsPem(core: StandInCore): Reply {
  const certs: Record<string, string> = {};
  for (const key of core.keys.all) certs[key.kid] = key.certificatePem;
  return jsonReply(200, certs, { 'cache-control': CERTS_CACHE });
}

export function handleCertsJwks(core: StandInCore): Reply {
  return jsonReply(
    200,
    { keys: core.keys.all.map((k) => k.jwk) },
    { 'cache-control': CERTS_CACHE },
  );
}

export function handleDiscovery(endpoints: StandInEndpoints): Reply {
  return jsonReply(
    200,
    {
      issuer: endpoints.issuer,
      authorization_endpoint: endpoints.authUrl,
      token_endpoint: endpoints.tokenUrl,
      userinfo_endpoint: endpoints.userInfoUrl,
      revocation_endpoint: endpoints.revokeUrl,
      jwks_uri: endpoints.certsJwksUrl,
      response_types_supported: ['code'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256'],
      scopes_supported: ['openid', 'email', 'profile'],
      token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
      claims_supported: [
        'aud',
        'email',
        'email_verified',
        'exp',
        'iat',
        'iss',
        'name',
        'sub',
        'nonce',
        'at_hash',
        'azp',
      ],
      code_challenge_methods_supported: ['plain', 'S256'],
      grant_types_supported: ['authorization_code', 'refresh_token'],
    },
    { 'cache-control': 'public, max-age=3600' },
  );
}

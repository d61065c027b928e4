// Builds google-auth-library OAuth2Clients pointed at the configured endpoints (Google or any
// server that behaves like it). The library is imported lazily: authorize never loads it, and
// revoke loads it only for server-to-server calls. A client is built per use (per user in jobs):
// never a module-global client holding one user's credentials.
import type { OAuth2Client } from 'google-auth-library';
import type { Config } from '../settings/config.ts';

type Library = typeof import('google-auth-library');
let library: Promise<Library> | undefined;

export function loadAuthLibrary(): Promise<Library> {
  library ??= import('google-auth-library');
  return library;
}

/**
 * An auth client that always yields one static bearer token: what Google's clients need to talk
 * to a local emulator or test server, which ignore the token but whose transports demand one.
 */
export async function staticTokenAuthClient(token: string): Promise<OAuth2Client> {
  const { OAuth2Client } = await loadAuthLibrary();
  const client = new OAuth2Client();
  client.setCredentials({ access_token: token, expiry_date: Date.now() + 365 * 86400e3 });
  return client;
}

export async function createOAuthClient(
  config: Pick<Config, 'clientId' | 'redirectUri' | 'google'>,
  clientSecret?: string,
): Promise<OAuth2Client> {
  const { OAuth2Client } = await loadAuthLibrary();
  return new OAuth2Client({
    clientId: config.clientId,
    ...(clientSecret === undefined ? {} : { clientSecret }),
    redirectUri: config.redirectUri,
    issuers: [...config.google.issuers],
    endpoints: {
      oauth2AuthBaseUrl: config.google.authUrl,
      oauth2TokenUrl: config.google.tokenUrl,
      oauth2RevokeUrl: config.google.revokeUrl,
      tokenInfoUrl: config.google.tokenInfoUrl,
      oauth2FederatedSignonPemCertsUrl: config.google.certsPemUrl,
      oauth2FederatedSignonJwkCertsUrl: config.google.certsJwksUrl,
    },
  });
}

/**
 * One client per instance (per settings and secret) for calls that hold no user's credentials:
 * the code exchange and ID-token verification. google-auth-library caches Google's certificates
 * per client object, honouring their max-age, so a client per request would fetch them on every
 * consent. getToken() does not store the tokens it returns
 * (docs/google-behaviours.md#google-auth-library-traps), so nothing of one user stays in the
 * shared client. Jobs still get a client of their own per user.
 */
const sharedClients = new WeakMap<object, Map<string, Promise<OAuth2Client>>>();

export function sharedOAuthClient(
  config: Pick<Config, 'clientId' | 'redirectUri' | 'google'>,
  clientSecret?: string,
): Promise<OAuth2Client> {
  let clients = sharedClients.get(config);
  if (!clients) {
    clients = new Map();
    sharedClients.set(config, clients);
  }
  const key = clientSecret ?? '';
  let client = clients.get(key);
  if (!client) {
    client = createOAuthClient(config, clientSecret);
    clients.set(key, client);
  }
  return client;
}

/**
 * The OAuth `error` field and status of a failed token-endpoint call, read from the response
 * body (gaxios puts it in `response.data`). Never the message text, which the library rewrites.
 */
export function oauthErrorOf(error: unknown): {
  status: number | undefined;
  error: string | undefined;
} {
  const response = (error as { response?: { status?: unknown; data?: unknown } })?.response;
  const data = response?.data as { error?: unknown } | undefined;
  return {
    status: typeof response?.status === 'number' ? response.status : undefined,
    error: typeof data?.error === 'string' ? data.error : undefined,
  };
}

// Shared fixtures for the stand-in's own tests: clients, PKCE, and thin fetch wrappers.
import { createHash, randomBytes } from 'node:crypto';
import { startGoogleStandIn, type GoogleStandIn, type StandInOptions } from './index.ts';

export const REDIRECT_URI = 'http://localhost:3000/oauth/callback';
export const CLIENT = {
  clientId: '123-web.apps.googleusercontent.com',
  clientSecret: 'GOCSPX-web-client-secret',
  redirectUris: [REDIRECT_URI, 'https://app.example.com/oauth/callback'],
};
export const OTHER_CLIENT = {
  clientId: '456-other.apps.googleusercontent.com',
  clientSecret: 'GOCSPX-other-client-secret',
  redirectUris: [REDIRECT_URI],
};
export const TESTING_CLIENT = {
  clientId: '789-testing.apps.googleusercontent.com',
  clientSecret: 'GOCSPX-testing-client-secret',
  redirectUris: [REDIRECT_URI],
  testingMode: true,
};
export const DRIVE_FILE_SCOPE = 'https://www.googleapis.com/auth/drive.file';
export const GMAIL_SCOPE = 'https://www.googleapis.com/auth/gmail.readonly';

export function startTestStandIn(extra: Partial<StandInOptions> = {}): Promise<GoogleStandIn> {
  return startGoogleStandIn({ clients: [CLIENT, OTHER_CLIENT, TESTING_CLIENT], ...extra });
}

export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export interface AuthAnswer {
  status: number;
  location: URL | null;
  body: string;
}

export function authUrl(standIn: GoogleStandIn, params: Record<string, string>): URL {
  const url = new URL(standIn.endpoints.authUrl);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url;
}

export async function getAuth(
  standIn: GoogleStandIn,
  params: Record<string, string>,
): Promise<AuthAnswer> {
  const res = await fetch(authUrl(standIn, params), { redirect: 'manual' });
  const location = res.headers.get('location');
  return {
    status: res.status,
    location: location ? new URL(location) : null,
    body: await res.text(),
  };
}

/** Standard consent parameters for CLIENT, scripted to approve. */
export function consentParams(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    client_id: CLIENT.clientId,
    redirect_uri: REDIRECT_URI,
    response_type: 'code',
    scope: `openid email ${DRIVE_FILE_SCOPE}`,
    access_type: 'offline',
    state: 'state-123',
    standin_decision: 'approve',
    ...overrides,
  };
}

/** Runs a scripted consent and returns the code and the redirect's parameters. */
export async function obtainCode(
  standIn: GoogleStandIn,
  overrides: Record<string, string> = {},
): Promise<{ code: string; params: URLSearchParams }> {
  const answer = await getAuth(standIn, consentParams(overrides));
  if (answer.status !== 302 || !answer.location)
    throw new Error(`consent failed: ${answer.status}`);
  const code = answer.location.searchParams.get('code');
  if (!code) throw new Error(`no code in redirect: ${answer.location.search}`);
  return { code, params: answer.location.searchParams };
}

export interface JsonAnswer {
  status: number;
  headers: Headers;
  json: Record<string, unknown>;
}

export async function postForm(
  url: string,
  form: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<JsonAnswer> {
  const res = await fetch(url, { method: 'POST', body: new URLSearchParams(form), headers });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    json: text ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}

export function exchangeCode(
  standIn: GoogleStandIn,
  code: string,
  extra: Record<string, string> = {},
): Promise<JsonAnswer> {
  return postForm(standIn.endpoints.tokenUrl, {
    grant_type: 'authorization_code',
    code,
    client_id: CLIENT.clientId,
    client_secret: CLIENT.clientSecret,
    redirect_uri: REDIRECT_URI,
    ...extra,
  });
}

export function refresh(
  standIn: GoogleStandIn,
  refreshToken: string,
  client: { clientId: string; clientSecret: string } = CLIENT,
): Promise<JsonAnswer> {
  return postForm(standIn.endpoints.tokenUrl, {
    grant_type: 'refresh_token',
    refresh_token: refreshToken,
    client_id: client.clientId,
    client_secret: client.clientSecret,
  });
}

const KNOWN_CLIENTS = [CLIENT, OTHER_CLIENT, TESTING_CLIENT];

/** Consent + code exchange (with the secret of the client named by client_id); returns the body. */
export async function signIn(
  standIn: GoogleStandIn,
  overrides: Record<string, string> = {},
): Promise<Record<string, unknown>> {
  const { code } = await obtainCode(standIn, overrides);
  const client = KNOWN_CLIENTS.find((c) => c.clientId === overrides['client_id']) ?? CLIENT;
  const answer = await exchangeCode(standIn, code, {
    client_id: client.clientId,
    client_secret: client.clientSecret,
    redirect_uri: overrides['redirect_uri'] ?? REDIRECT_URI,
  });
  if (answer.status !== 200) throw new Error(`exchange failed: ${JSON.stringify(answer.json)}`);
  return answer.json;
}

export function str(value: unknown): string {
  if (typeof value !== 'string') throw new Error(`expected a string, got ${typeof value}`);
  return value;
}

export function decodeJwtPayload(jwt: string): Record<string, unknown> {
  const part = jwt.split('.')[1] ?? '';
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
}

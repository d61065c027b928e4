// Google's RISC stream management API (https://developers.google.com/identity/protocols/risc#register):
// which receiver Google pushes security events to, and which events. Authenticated by a JWT that
// a service account with `roles/riscconfigs.admin` signs itself, with the RISC service as its
// audience (google-auth-library's JWTAccess). Locally, the Google stand-in plays the API.
import { readFile } from 'node:fs/promises';
import { JWTAccess } from 'google-auth-library';

export const RISC_AUDIENCE =
  'https://risc.googleapis.com/google.identity.risc.v1beta.RiscManagementService';
export const RISC_API_ROOT = 'https://risc.googleapis.com/';
const PUSH = 'https://schemas.openid.net/secevent/risc/delivery-method/push';

/** Every event type the receiver acts on (shared/risc/security-event.ts). */
export const REQUESTED_EVENTS = [
  'https://schemas.openid.net/secevent/oauth/event-type/tokens-revoked',
  'https://schemas.openid.net/secevent/oauth/event-type/token-revoked',
  'https://schemas.openid.net/secevent/risc/event-type/account-disabled',
  'https://schemas.openid.net/secevent/risc/event-type/account-enabled',
  'https://schemas.openid.net/secevent/risc/event-type/sessions-revoked',
  'https://schemas.openid.net/secevent/risc/event-type/account-credential-change-required',
  'https://schemas.openid.net/secevent/risc/event-type/verification',
];

/** The bearer for the RISC API, from a service account's key (client_email, private_key). */
export function serviceAccountBearer(key: { client_email: string; private_key: string }): string {
  const headers = new JWTAccess(key.client_email, key.private_key).getRequestHeaders(RISC_AUDIENCE);
  const value = headers.get('authorization');
  if (!value) throw new Error('could not sign a JWT for the RISC API');
  return value.replace(/^Bearer /, '');
}

export interface RiscApi {
  register(receiverUrl: string): Promise<unknown>;
  status(): Promise<{ stream: unknown; status: unknown }>;
  verify(state: string): Promise<unknown>;
}

export function riscApi(apiRoot: string, bearer: string): RiscApi {
  const call = async (method: 'GET' | 'POST', path: string, body?: unknown) => {
    const answer = await fetch(new URL(path, apiRoot), {
      method,
      headers: {
        authorization: `Bearer ${bearer}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await answer.text();
    if (!answer.ok)
      throw new Error(`RISC API ${method} ${path}: ${answer.status} ${text.slice(0, 300)}`);
    return text === '' ? {} : (JSON.parse(text) as unknown);
  };
  return {
    register: (receiverUrl) =>
      call('POST', 'v1beta/stream:update', {
        delivery: { delivery_method: PUSH, url: receiverUrl },
        events_requested: REQUESTED_EVENTS,
      }),
    async status() {
      return {
        stream: await call('GET', 'v1beta/stream'),
        status: await call('GET', 'v1beta/stream/status'),
      };
    },
    verify: (state) => call('POST', 'v1beta/stream:verify', { state }),
  };
}

/**
 * The bearer the operator tools use: a self-signed JWT of RISC_SERVICE_ACCOUNT_KEY_FILE's service
 * account, or against the local stack (STAND_IN_URL) one the stand-in mints; undefined without either.
 */
export async function operatorBearer(
  env: Readonly<Record<string, string | undefined>>,
): Promise<string | undefined> {
  if (env.RISC_SERVICE_ACCOUNT_KEY_FILE)
    return serviceAccountBearer(
      JSON.parse(await readFile(env.RISC_SERVICE_ACCOUNT_KEY_FILE, 'utf8')) as {
        client_email: string;
        private_key: string;
      },
    );
  if (!env.STAND_IN_URL) return undefined;
  const answer = await fetch(new URL('/__control/service-account-id-token', env.STAND_IN_URL), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      email: 'risc-admin@local.iam.gserviceaccount.com',
      audience: RISC_AUDIENCE,
    }),
  });
  return ((await answer.json()) as { idToken: string }).idToken;
}

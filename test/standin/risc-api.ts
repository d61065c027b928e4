// Cross-Account Protection on the wire: the RISC discovery document, the JWKS of the SET signing
// keys, and the stream management API that risc.googleapis.com serves (v1beta), in Google's
// google.rpc error shape. The API takes the service-account JWT that Google's documentation has
// the project send (audience RISC_MANAGEMENT_AUDIENCE); the stand-in accepts one minted by
// control.mintServiceAccountIdToken (Google: one the service account signs itself).
import type { StandInCore } from './core.ts';
import { bearerToken, contentType, jsonReply, type Reply, type RequestContext } from './http.ts';
import { GOOGLE_ISSUER } from './id-tokens.ts';
import { verifyJwt } from './keys.ts';
import { PUSH_DELIVERY_METHOD, RISC_MANAGEMENT_AUDIENCE } from './risc-events.ts';
import { rpcBadParameter, rpcError, rpcUnauthenticated } from './rpc-errors.ts';
import type { StandInEndpoints } from './types.ts';

export const RISC_CONFIGURATION_PATH = '/.well-known/risc-configuration';
export const RISC_JWKS_PATH = '/oauth2/v3/risc-certs';
/** Under it, the paths of https://risc.googleapis.com/ (`v1beta/stream:update`, …). */
export const RISC_API_PREFIX = '/risc/';

const V1BETA = `${RISC_API_PREFIX}v1beta/`;
/** As the certificates: receivers may cache the keys, and must refetch on an unknown kid. */
const JWKS_CACHE = 'public, max-age=21600, must-revalidate, no-transform';

export function handleRiscConfiguration(endpoints: StandInEndpoints): Reply {
  return jsonReply(
    200,
    {
      issuer: endpoints.riscIssuer,
      jwks_uri: endpoints.riscJwksUrl,
      delivery_methods_supported: [PUSH_DELIVERY_METHOD],
      add_subject_endpoint: `${endpoints.riscApiRoot}v1beta/subjects:add`,
      remove_subject_endpoint: `${endpoints.riscApiRoot}v1beta/subjects:remove`,
    },
    { 'cache-control': 'public, max-age=3600' },
  );
}

export function handleRiscJwks(core: StandInCore): Reply {
  return jsonReply(200, core.risc.keys.jwks(), { 'cache-control': JWKS_CACHE });
}

type Body = Record<string, unknown>;

/** A malformed request: Google's proto-JSON parser answers 400 with a BadRequest detail. */
class BadRequest extends Error {}

export function handleRiscApi(ctx: RequestContext, core: StandInCore): Reply {
  const action = `${ctx.method} ${ctx.url.pathname.slice(V1BETA.length)}`;
  if (!ctx.url.pathname.startsWith(V1BETA) || !KNOWN_ACTIONS.has(action)) {
    return rpcError(404, 'NOT_FOUND', `Method not found: ${ctx.method} ${ctx.url.pathname}`);
  }
  const refused = authorize(ctx, core);
  if (refused) return refused;
  try {
    return answer(action, ctx, core);
  } catch (err) {
    if (err instanceof BadRequest) return rpcBadParameter(undefined, err.message);
    throw err;
  }
}

const KNOWN_ACTIONS: ReadonlySet<string> = new Set([
  'GET stream',
  'POST stream:update',
  'POST stream:verify',
  'GET stream/status',
  'POST stream/status:update',
  'POST subjects:add',
  'POST subjects:remove',
]);

/**
 * 401 without a credential or with one that is not a live service-account JWT for this API
 * (bad signature, expired, other audience); 403 for a live credential of another kind (a user's
 * OAuth access token), which Google would refuse for lack of permission.
 */
function authorize(ctx: RequestContext, core: StandInCore): Reply | undefined {
  const token = bearerToken(ctx);
  if (token === undefined) return rpcUnauthenticated(false);
  const jwt = verifyJwt(core.keys, token);
  if (!jwt) {
    return core.oauth.findAccessToken(token)
      ? rpcError(403, 'PERMISSION_DENIED', 'The caller does not have permission')
      : rpcUnauthenticated(true);
  }
  const { payload } = jwt;
  const exp = payload['exp'];
  // Real wall time, as the ID tokens it is minted like (id-tokens.ts).
  const live = typeof exp === 'number' && exp > Date.now() / 1000;
  if (!live || payload['iss'] !== GOOGLE_ISSUER || payload['aud'] !== RISC_MANAGEMENT_AUDIENCE) {
    return rpcUnauthenticated(true);
  }
  return undefined;
}

function answer(action: string, ctx: RequestContext, core: StandInCore): Reply {
  const risc = core.risc;
  switch (action) {
    case 'GET stream': {
      const config = risc.config();
      if (!config) return streamNotFound();
      return jsonReply(200, streamJson(config));
    }
    case 'POST stream:update': {
      const body = readBody(ctx, ['delivery', 'events_requested']);
      const config = { url: deliveryUrl(body['delivery']), eventsRequested: eventTypes(body) };
      risc.configure(config);
      return jsonReply(200, streamJson(config));
    }
    case 'POST stream:verify': {
      const body = readBody(ctx, ['state']);
      const state = body['state'];
      if (state !== undefined && typeof state !== 'string')
        throw new BadRequest("Invalid value at 'state': expected a string.");
      if (!risc.config()) return streamNotFound();
      // The stream is the project's, the SET is for one client: the first registered one.
      const client = [...core.oauth.clients.values()].find((c) => !c.deleted);
      // Asynchronous, as Google's: the answer does not wait for the push (control.riscSettled).
      if (client) void risc.verify(client.clientId, state);
      return jsonReply(200, {});
    }
    case 'GET stream/status':
      return jsonReply(200, { status: risc.enabled() ? 'enabled' : 'disabled' });
    case 'POST stream/status:update': {
      const status = readBody(ctx, ['status'])['status'];
      if (status !== 'enabled' && status !== 'disabled')
        throw new BadRequest('Invalid value at \'status\': expected "enabled" or "disabled".');
      risc.setEnabled(status === 'enabled');
      return jsonReply(200, { status });
    }
    default:
      // subjects:add and subjects:remove are listed in discovery but not modelled.
      return rpcError(501, 'UNIMPLEMENTED', 'Not implemented by the Google stand-in.');
  }
}

function streamNotFound(): Reply {
  return rpcError(404, 'NOT_FOUND', 'No stream is configured for this project.');
}

function streamJson(config: { url: string; eventsRequested: readonly string[] }): unknown {
  return {
    delivery: { delivery_method: PUSH_DELIVERY_METHOD, url: config.url },
    events_requested: [...config.eventsRequested],
  };
}

/** A JSON object with only the named fields (Google rejects unknown names). */
function readBody(ctx: RequestContext, fields: readonly string[]): Body {
  if (ctx.body.length === 0) return {};
  if (contentType(ctx) !== 'application/json')
    throw new BadRequest('Invalid JSON payload received. Expected application/json.');
  let value: unknown;
  try {
    value = JSON.parse(ctx.body.toString('utf8'));
  } catch {
    throw new BadRequest('Invalid JSON payload received. Unexpected token.');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new BadRequest('Invalid JSON payload received. Expected an object.');
  rejectUnknown(value as Body, fields, '');
  return value as Body;
}

function rejectUnknown(body: Body, fields: readonly string[], path: string): void {
  const unknown = Object.keys(body).find((k) => !fields.includes(k));
  if (unknown !== undefined)
    throw new BadRequest(
      `Invalid JSON payload received. Unknown name "${unknown}"${path ? ` at '${path}'` : ''}: Cannot find field.`,
    );
}

/** Push only; HTTPS, or plain HTTP to a loopback host (the stand-in's tests and the demo). */
function deliveryUrl(value: unknown): string {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new BadRequest('delivery is required.');
  const delivery = value as Body;
  rejectUnknown(delivery, ['delivery_method', 'url'], 'delivery');
  if (delivery['delivery_method'] !== PUSH_DELIVERY_METHOD)
    throw new BadRequest(`delivery.delivery_method must be ${PUSH_DELIVERY_METHOD}.`);
  const raw = delivery['url'];
  const text = typeof raw === 'string' ? raw : '';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new BadRequest('delivery.url must be an absolute URL.');
  }
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback))
    throw new BadRequest('delivery.url must use https.');
  return text;
}

/**
 * Any event type URIs are stored as given (Google accepts types it does not send); only those
 * it sends are ever delivered.
 */
function eventTypes(body: Body): string[] {
  const value = body['events_requested'];
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string'))
    throw new BadRequest('events_requested must be a list of event type URIs.');
  return [...new Set(value)];
}

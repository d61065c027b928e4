// Plug-in APIs: an app's own Google API (Calendar, Gmail, …) served by the stand-in next to the
// built-in ones. The stand-in checks the Bearer token (a bad one never reaches the handler),
// applies latency and faults under the plug-in's name, and logs the request; the handler only
// answers for a known caller. Also the access-token check that Sheets and plug-ins share.
import type { StandInCore } from './core.ts';
import type { FaultSpec } from './faults.ts';
import { bearerToken, type Reply, type RequestContext } from './http.ts';
import { legacyError, legacyOutage, legacyUnauthenticated } from './legacy-errors.ts';
import { rpcError, rpcOutage, rpcUnauthenticated } from './rpc-errors.ts';
import { GOOGLE_ENDPOINT_NAMES } from './types.ts';

/** Who called: the live access token's user, client and granted scopes (normalised URLs). */
export interface ApiCaller {
  readonly email: string;
  /** Google's stable account id. */
  readonly sub: string;
  readonly clientId: string;
  readonly scopes: readonly string[];
}

/**
 * The error family of an API: `rpc` for the newer APIs (google.rpc shape, as Sheets v4), `legacy`
 * for the older ones (`errors[].reason`, as Drive v3, Calendar v3 and Gmail v1).
 */
export type ApiErrorShape = 'rpc' | 'legacy';

export interface StandInApi {
  /** Endpoint name in the request log, stats and faults, e.g. `calendar`. */
  readonly name: string;
  /** Path prefix under `apiRoot`, starting and ending with '/', e.g. `/calendar/v3/`. */
  readonly prefix: string;
  /** Default GET, POST, PUT, PATCH, DELETE; others get 405. */
  readonly methods?: readonly string[];
  /** Shape of the stand-in's 401 and fault answers for this API. Default `rpc`. */
  readonly errorShape?: ApiErrorShape;
  /** For `rpc` fault answers' ErrorInfo. Default `<name>.googleapis.com`. */
  readonly service?: string;
  /** Answers an authenticated request. A thrown error becomes a bare 500. */
  handle(ctx: RequestContext, caller: ApiCaller): Reply | Promise<Reply>;
  /** Called by `control.reset()`, to drop the plug-in's own state. */
  reset?(): void;
}

/** The token of a Google API request: `Authorization: Bearer …` or `?access_token=`. */
export function accessTokenOf(ctx: RequestContext): string | undefined {
  return bearerToken(ctx) ?? ctx.url.searchParams.get('access_token') ?? undefined;
}

/** The caller of a live access token, or whether a token was sent at all (for the 401). */
export function authenticate(
  ctx: RequestContext,
  core: StandInCore,
): { caller: ApiCaller } | { caller: undefined; tokenSent: boolean } {
  const token = accessTokenOf(ctx);
  const record = token ? core.oauth.findAccessToken(token) : undefined;
  if (!record) return { caller: undefined, tokenSent: token !== undefined };
  return {
    caller: Object.freeze({
      email: record.grant.email,
      sub: record.grant.sub,
      clientId: record.grant.clientId,
      scopes: Object.freeze([...record.scopes]),
    }),
  };
}

export function hasAnyScope(caller: ApiCaller, scopes: readonly string[]): boolean {
  return scopes.some((s) => caller.scopes.includes(s));
}

const DEFAULT_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** Runs the Bearer check, then the plug-in. */
export async function handleApi(
  ctx: RequestContext,
  core: StandInCore,
  api: StandInApi,
): Promise<Reply> {
  const auth = authenticate(ctx, core);
  if (!auth.caller) {
    return api.errorShape === 'legacy'
      ? legacyUnauthenticated()
      : rpcUnauthenticated(auth.tokenSent);
  }
  return api.handle(ctx, auth.caller);
}

export function methodsOf(api: StandInApi): readonly string[] {
  return api.methods ?? DEFAULT_METHODS;
}

/** A plug-in's answer to an injected status, rateLimit or refuse fault, in its error shape. */
export function apiFaultReply(api: StandInApi, spec: FaultSpec): Reply {
  const headers: Record<string, string> =
    spec.kind === 'rateLimit' ? { 'retry-after': String(spec.retryAfterSeconds ?? 1) } : {};
  const status = spec.kind === 'status' || spec.kind === 'refuse' ? spec.status : 429;
  if (spec.kind === 'refuse') {
    return api.errorShape === 'legacy'
      ? legacyError(status, 'Refused by the stand-in', spec.error)
      : rpcError(status, spec.error, 'Refused by the stand-in');
  }
  return api.errorShape === 'legacy'
    ? legacyOutage(status, headers)
    : rpcOutage(api.service ?? `${api.name}.googleapis.com`, status, headers);
}

/**
 * Refuses plug-ins whose name is taken or whose prefix overlaps a built-in route or another
 * plug-in: a request must reach exactly one handler.
 */
export function validateApis(
  apis: readonly StandInApi[],
  builtInPrefixes: readonly string[],
): void {
  const names = new Set<string>([...GOOGLE_ENDPOINT_NAMES, 'control', 'unknown']);
  const prefixes = [...builtInPrefixes];
  for (const api of apis) {
    if (!/^[a-z][a-z0-9-]*$/.test(api.name) || names.has(api.name)) {
      throw new RangeError(`plug-in API name must be new and match [a-z][a-z0-9-]*: ${api.name}`);
    }
    if (!/^\/[^?#]*\/$/.test(api.prefix) || api.prefix === '/') {
      throw new RangeError(`plug-in API prefix must start and end with '/': ${api.prefix}`);
    }
    const clash = prefixes.find((p) => p.startsWith(api.prefix) || api.prefix.startsWith(p));
    if (clash) throw new RangeError(`plug-in API prefix ${api.prefix} overlaps ${clash}`);
    names.add(api.name);
    prefixes.push(api.prefix);
  }
}

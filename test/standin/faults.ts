// Fault injection per endpoint name: 5xx, 429 with Retry-After, slow answers, dropped sockets.
// Each fault applies to the next `count` requests of that endpoint, in the order added.
import { legacyOutage } from './legacy-errors.ts';
import { htmlReply, jsonReply, type Reply } from './http.ts';
import { rpcError, rpcOutage } from './rpc-errors.ts';
import type { ApiEndpointName, GoogleEndpointName } from './types.ts';

export type FaultSpec =
  | { kind: 'status'; status: number; count?: number }
  | { kind: 'rateLimit'; retryAfterSeconds?: number; count?: number }
  | { kind: 'slow'; delayMs: number; count?: number }
  | { kind: 'drop'; count?: number }
  /** A refusal in the OAuth error shape, e.g. revoke's 400 invalid_request (not an outage). */
  | { kind: 'refuse'; status: number; error: string; count?: number };

export type FaultKind = FaultSpec['kind'];

interface ActiveFault {
  spec: FaultSpec;
  remaining: number;
}

export interface PendingFault {
  endpoint: ApiEndpointName;
  spec: FaultSpec;
  remaining: number;
}

export function validateFault(spec: FaultSpec): void {
  const count = spec.count ?? 1;
  if (!Number.isInteger(count) || count < 1) throw new RangeError('fault count must be >= 1');
  if (
    spec.kind === 'status' &&
    !(Number.isInteger(spec.status) && spec.status >= 500 && spec.status <= 599)
  ) {
    throw new RangeError('status fault needs a 5xx status');
  }
  if (
    spec.kind === 'refuse' &&
    !(Number.isInteger(spec.status) && spec.status >= 400 && spec.status <= 499 && spec.error)
  ) {
    throw new RangeError('refuse fault needs a 4xx status and an error');
  }
  if (spec.kind === 'slow' && !(Number.isFinite(spec.delayMs) && spec.delayMs >= 0)) {
    throw new RangeError('slow fault needs delayMs >= 0');
  }
  if (
    spec.kind === 'rateLimit' &&
    spec.retryAfterSeconds !== undefined &&
    !(spec.retryAfterSeconds >= 0)
  ) {
    throw new RangeError('retryAfterSeconds must be >= 0');
  }
}

/** Faults at random: a share of every request to the given endpoints (chaos runs). */
export interface FaultRate {
  /** 0 to 1. */
  readonly rate: number;
  readonly endpoints: readonly ApiEndpointName[];
  /** A number in [0, 1) per request; seeded by the caller, so a run replays. */
  readonly random: () => number;
}

/**
 * A per-project quota shared by every caller, as Google's are (e.g. Drive's queries per minute per
 * project): a token bucket of `callsPerSecond`, one second deep. A call beyond it gets the
 * endpoint's rate-limit answer (429 `rateLimitExceeded`) and spends nothing.
 */
export interface ProjectQuota {
  readonly callsPerSecond: number;
  readonly endpoints: readonly ApiEndpointName[];
}

export class FaultInjector {
  readonly #queues = new Map<ApiEndpointName, ActiveFault[]>();
  #rate: FaultRate | undefined;
  #quota: (ProjectQuota & { tokens: number; at: number; refused: number }) | undefined;

  /** Until cleared, calls to `endpoints` beyond `callsPerSecond` are refused with a 429. */
  setQuota(quota: ProjectQuota | undefined): void {
    if (quota !== undefined && !(quota.callsPerSecond > 0))
      throw new RangeError('callsPerSecond must be > 0');
    this.#quota = quota && {
      ...quota,
      tokens: quota.callsPerSecond,
      at: performance.now(),
      refused: 0,
    };
  }

  /** Calls the quota refused since it was set. */
  quotaRefusals(): number {
    return this.#quota?.refused ?? 0;
  }

  /** Until cleared, answers `rate` of the requests with a 503 or a 429 (half each). */
  setRate(rate: FaultRate | undefined): void {
    if (rate !== undefined && !(rate.rate >= 0 && rate.rate <= 1))
      throw new RangeError('fault rate must be from 0 to 1');
    this.#rate = rate;
  }

  add(endpoint: ApiEndpointName, spec: FaultSpec): void {
    validateFault(spec);
    const queue = this.#queues.get(endpoint) ?? [];
    queue.push({ spec, remaining: spec.count ?? 1 });
    this.#queues.set(endpoint, queue);
  }

  /** The fault for this request, if any; consumes one use of it. */
  take(endpoint: ApiEndpointName): FaultSpec | undefined {
    const queue = this.#queues.get(endpoint);
    const active = queue?.[0];
    if (!queue || !active) return this.#overQuota(endpoint) ?? this.#random(endpoint);
    active.remaining -= 1;
    if (active.remaining <= 0) queue.shift();
    return active.spec;
  }

  #overQuota(endpoint: ApiEndpointName): FaultSpec | undefined {
    const quota = this.#quota;
    if (quota === undefined || !quota.endpoints.includes(endpoint)) return undefined;
    const now = performance.now();
    quota.tokens = Math.min(
      quota.callsPerSecond,
      quota.tokens + ((now - quota.at) / 1000) * quota.callsPerSecond,
    );
    quota.at = now;
    if (quota.tokens >= 1) {
      quota.tokens -= 1;
      return undefined;
    }
    quota.refused += 1;
    return { kind: 'rateLimit', retryAfterSeconds: 1 };
  }

  #random(endpoint: ApiEndpointName): FaultSpec | undefined {
    const rate = this.#rate;
    if (rate === undefined || !rate.endpoints.includes(endpoint)) return undefined;
    const draw = rate.random();
    if (draw >= rate.rate) return undefined;
    return draw < rate.rate / 2
      ? { kind: 'status', status: 503 }
      : { kind: 'rateLimit', retryAfterSeconds: 1 };
  }

  pending(): PendingFault[] {
    return [...this.#queues].flatMap(([endpoint, queue]) =>
      queue.map((f) => ({ endpoint, spec: f.spec, remaining: f.remaining })),
    );
  }

  clear(endpoint?: ApiEndpointName): void {
    if (endpoint) this.#queues.delete(endpoint);
    else {
      this.#queues.clear();
      this.#rate = undefined;
      this.#quota = undefined;
    }
  }
}

/**
 * The answer to a status or rateLimit fault, shaped like the endpoint family's errors (plug-in
 * APIs: apiFaultReply).
 */
export function faultReply(endpoint: GoogleEndpointName, spec: FaultSpec): Reply {
  if (spec.kind === 'refuse' && (endpoint === 'sheets' || endpoint === 'risc'))
    return rpcError(spec.status, spec.error, 'Refused by the stand-in');
  if (spec.kind === 'refuse')
    return jsonReply(
      spec.status,
      { error: spec.error, error_description: 'Refused by the stand-in' },
      { 'cache-control': 'no-store' },
    );
  const status = spec.kind === 'status' ? spec.status : 429;
  const headers: Record<string, string> =
    spec.kind === 'rateLimit' ? { 'retry-after': String(spec.retryAfterSeconds ?? 1) } : {};
  if (endpoint === 'drive') return legacyOutage(status, headers);
  if (endpoint === 'sheets') return rpcOutage('sheets.googleapis.com', status, headers);
  if (endpoint === 'risc') return rpcOutage('risc.googleapis.com', status, headers);
  if (endpoint === 'auth') {
    const reply = htmlReply(
      status,
      `<!doctype html><title>Error ${status}</title><p>Error ${status}</p>`,
    );
    return { ...reply, headers: { ...reply.headers, ...headers } };
  }
  const body =
    status === 429
      ? { error: 'rate_limit_exceeded', error_description: 'Rate Limit Exceeded' }
      : { error: 'internal_failure', error_description: 'Backend Error' };
  return jsonReply(status, body, { 'cache-control': 'no-store', ...headers });
}

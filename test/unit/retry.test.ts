// The errors-and-retry module (shared/retry/): one Retry-After parser, one backoff, one classifier,
// and the OAuth response handling built on them (refresh, revocation). Pure: no emulator. Google
// API errors are real GaxiosErrors, raised by @googleapis/drive against a local HTTP server that
// answers with Google's error bodies.
import { drive } from '@googleapis/drive';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DECRYPT_FAILED,
  FIRESTORE_ERROR,
  LEASE_BUSY,
  networkError,
  OAuthResponseError,
  OperationError,
  REFRESH_TOKEN_MISSING,
  SCOPE_MISSING,
  ServiceError,
} from '../../shared/errors.ts';
import { processRefreshResponse } from '../../shared/oauth/refresh.ts';
import { processRevocationResponse, revokeToken } from '../../shared/oauth/revocation.ts';
import { backoffDelay, withBackoff } from '../../shared/retry/backoff.ts';
import { classifyError } from '../../shared/retry/classify.ts';
import { parseRetryAfter, retryAfterFromHeaders } from '../../shared/retry/retry-after.ts';

const NOW = Date.parse('2026-11-22T10:00:00.000Z');

describe('parseRetryAfter (RFC 9110 §10.2.3)', () => {
  it.each([
    ['120', 120],
    [' 7 ', 7],
    ['0', 0],
    [new Date(NOW + 30_000).toUTCString(), 30],
    [new Date(NOW - 60_000).toUTCString(), 0],
    ['soon', undefined],
    ['-5', undefined],
    ['', undefined],
    [null, undefined],
    [undefined, undefined],
  ])('%j → %j', (value, seconds) => {
    expect(parseRetryAfter(value, NOW)).toBe(seconds);
  });

  it('reads fetch Headers and gaxios plain-object headers alike', () => {
    expect(retryAfterFromHeaders(new Headers({ 'Retry-After': '9' }), NOW)).toBe(9);
    const date = new Date(NOW + 12_000).toUTCString();
    expect(retryAfterFromHeaders({ 'retry-after': date }, NOW)).toBe(12);
    expect(retryAfterFromHeaders({ 'content-type': 'text/plain' }, NOW)).toBeUndefined();
    expect(retryAfterFromHeaders(undefined, NOW)).toBeUndefined();
  });
});

describe('backoffDelay', () => {
  it('is full jitter under an exponential ceiling', () => {
    expect(backoffDelay(0, undefined, { random: () => 0, baseMs: 100 })).toBe(0);
    expect(backoffDelay(0, undefined, { random: () => 0.5, baseMs: 100 })).toBe(50);
    expect(backoffDelay(3, undefined, { random: () => 0.5, baseMs: 100 })).toBe(400);
    expect(backoffDelay(20, undefined, { random: () => 0.5, baseMs: 100, maxMs: 1000 })).toBe(500);
  });

  it('waits at least Retry-After, but never more than maxWaitMs', () => {
    expect(backoffDelay(0, 3, { random: () => 0.5, baseMs: 100 })).toBe(3000);
    expect(backoffDelay(0, 3, { random: () => 0.5, baseMs: 100, maxWaitMs: 2000 })).toBe(2000);
  });
});

function fakeTime(start = NOW) {
  let now = start;
  const waits: number[] = [];
  return {
    clock: { now: () => now },
    waits,
    sleep: (ms: number) => {
      waits.push(ms);
      now += ms;
      return Promise.resolve();
    },
  };
}

const unavailable = () => new OAuthResponseError(503, 'http_503');

describe('withBackoff', () => {
  it('retries transient failures until the work succeeds', async () => {
    const time = fakeTime();
    let calls = 0;
    const value = await withBackoff(
      () => (++calls < 3 ? Promise.reject(unavailable()) : Promise.resolve('done')),
      { clock: time.clock, sleep: time.sleep, random: () => 0.5, baseMs: 100 },
    );
    expect(value).toBe('done');
    expect(time.waits).toEqual([50, 100]);
  });

  it('throws a permanent failure at once', async () => {
    const time = fakeTime();
    const refusal = new OAuthResponseError(400, 'invalid_grant');
    await expect(
      withBackoff(() => Promise.reject(refusal), { clock: time.clock, sleep: time.sleep }),
    ).rejects.toBe(refusal);
    expect(time.waits).toEqual([]);
  });

  it('stops when the next wait would cross the deadline', async () => {
    const time = fakeTime();
    let calls = 0;
    const failing = () => {
      calls += 1;
      return Promise.reject(unavailable());
    };
    await expect(
      withBackoff(failing, {
        clock: time.clock,
        sleep: time.sleep,
        random: () => 0.99,
        baseMs: 100,
        deadline: NOW + 500,
      }),
    ).rejects.toThrow(OAuthResponseError);
    // Waits of 99, 198 fit in 500 ms; the next (396) would cross it.
    expect(time.waits).toEqual([99, 198]);
    expect(calls).toBe(3);
  });

  it('stops after the given number of attempts', async () => {
    const time = fakeTime();
    let calls = 0;
    await expect(
      withBackoff(
        () => {
          calls += 1;
          return Promise.reject(unavailable());
        },
        { clock: time.clock, sleep: time.sleep, attempts: 3 },
      ),
    ).rejects.toThrow(OAuthResponseError);
    expect(calls).toBe(3);
    expect(time.waits).toHaveLength(2);
  });

  it('honours Retry-After and reports each retry', async () => {
    const time = fakeTime();
    const retries: unknown[] = [];
    let calls = 0;
    await withBackoff(
      () =>
        ++calls === 1
          ? Promise.reject(new OAuthResponseError(429, 'rate_limited', undefined, 4))
          : Promise.resolve(),
      {
        clock: time.clock,
        sleep: time.sleep,
        random: () => 0,
        onRetry: (info) => retries.push(info),
      },
    );
    expect(time.waits).toEqual([4000]);
    expect(retries).toEqual([{ attempt: 1, delayMs: 4000, reason: 'rate_limited', status: 429 }]);
  });
});

/** A server answering every request with the next scripted response. */
function scriptedServer() {
  const script: { status: number; body: unknown; headers?: Record<string, string> }[] = [];
  const server: Server = createServer((request, response) => {
    request.resume();
    const next = script.shift() ?? { status: 500, body: { error: 'unscripted' } };
    response.writeHead(next.status, { 'content-type': 'application/json', ...next.headers });
    response.end(JSON.stringify(next.body));
  });
  return {
    script,
    server,
    url: () => `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
  };
}

const google = scriptedServer();
beforeAll(() => new Promise<void>((resolve) => google.server.listen(0, '127.0.0.1', resolve)));
afterAll(() => new Promise<void>((resolve) => google.server.close(() => resolve())));

/** The error a real @googleapis/drive call raises for the next scripted answer. */
async function driveError(answer: (typeof google.script)[number]): Promise<unknown> {
  google.script.push(answer);
  const client = drive({ version: 'v3', rootUrl: google.url(), retry: false });
  return client.files.list({ access_token: 'ya29.test' }).then(
    () => undefined,
    (error: unknown) => error,
  );
}

const apiError = (code: number, reason: string, status: string) => ({
  error: { code, message: 'described in prose', errors: [{ reason }], status },
});

describe('classifyError', () => {
  it.each([
    [
      new OAuthResponseError(400, 'invalid_grant', 'token_revoked'),
      'invalid_grant',
      'invalid_grant',
    ],
    [new OAuthResponseError(401, 'invalid_client'), 'client_config', 'invalid_client'],
    [new OAuthResponseError(401, 'deleted_client'), 'client_config', 'deleted_client'],
    [new OAuthResponseError(503, 'http_503'), 'transient', 'http_503'],
    [new OAuthResponseError(429, 'rate_limited'), 'transient', 'rate_limited'],
    [new OAuthResponseError(400, 'invalid_request'), 'unknown', 'invalid_request'],
    [new OperationError(REFRESH_TOKEN_MISSING, 'none'), 'invalid_grant', REFRESH_TOKEN_MISSING],
    [new OperationError(DECRYPT_FAILED, 'bad tag'), 'decrypt', DECRYPT_FAILED],
    [
      new OperationError(SCOPE_MISSING, 'x', { detail: 'https://www.googleapis.com/auth/drive' }),
      'scope_missing',
      'https://www.googleapis.com/auth/drive',
    ],
    [networkError(new TypeError('fetch failed'), 'Google'), 'transient', 'network'],
    [
      new ServiceError(FIRESTORE_ERROR, 'x', { status: 'ABORTED', httpStatus: 409 }),
      'transient',
      'ABORTED',
    ],
    [
      new ServiceError(FIRESTORE_ERROR, 'x', { status: 'NOT_FOUND', httpStatus: 404 }),
      'unknown',
      'NOT_FOUND',
    ],
    [Object.assign(new Error('UNAVAILABLE'), { code: 14 }), 'transient', 'firestore_14'],
    [Object.assign(new Error('INVALID_ARGUMENT'), { code: 3 }), 'unknown', 'Error'],
    [new RangeError('bug'), 'unknown', 'RangeError'],
  ])('%s → %s (%s)', (error, failure, reason) => {
    const classified = classifyError(error, NOW);
    expect(classified.failure).toBe(failure);
    expect(classified.reason).toBe(reason);
  });

  it('a busy lease is transient with its own Retry-After', () => {
    const busy = new OperationError(LEASE_BUSY, 'held', { retryAfterSeconds: 6 });
    expect(classifyError(busy, NOW)).toMatchObject({ failure: 'transient', retryAfterSeconds: 6 });
  });

  it('reads Google API errors from the body reason and status, never the message', async () => {
    const cases: [(typeof google.script)[number], string, string][] = [
      [
        { status: 401, body: apiError(401, 'authError', 'UNAUTHENTICATED') },
        'unauthenticated',
        'authError',
      ],
      [
        { status: 403, body: apiError(403, 'insufficientPermissions', 'PERMISSION_DENIED') },
        'scope_missing',
        'insufficientPermissions',
      ],
      [
        { status: 403, body: apiError(403, 'rateLimitExceeded', 'PERMISSION_DENIED') },
        'transient',
        'rateLimitExceeded',
      ],
      [
        { status: 503, body: apiError(503, 'backendError', 'UNAVAILABLE') },
        'transient',
        'backendError',
      ],
      [{ status: 404, body: apiError(404, 'notFound', 'NOT_FOUND') }, 'unknown', 'notFound'],
      [{ status: 502, body: '<html>bad gateway</html>' }, 'transient', 'http_502'],
    ];
    for (const [answer, failure, reason] of cases) {
      const classified = classifyError(await driveError(answer), NOW);
      expect(classified, JSON.stringify(answer.body)).toMatchObject({ failure, reason });
    }
  });

  it('takes Retry-After from a Google API answer, seconds or HTTP date', async () => {
    const date = new Date(Date.now() + 20_000).toUTCString();
    const limited = await driveError({
      status: 429,
      body: apiError(429, 'rateLimitExceeded', 'RESOURCE_EXHAUSTED'),
      headers: { 'retry-after': date },
    });
    const classified = classifyError(limited);
    expect(classified.failure).toBe('transient');
    expect(classified.retryAfterSeconds).toBeGreaterThanOrEqual(19);
    expect(classified.retryAfterSeconds).toBeLessThanOrEqual(21);
    const seconds = await driveError({
      status: 503,
      body: apiError(503, 'backendError', 'UNAVAILABLE'),
      headers: { 'retry-after': '7' },
    });
    expect(classifyError(seconds, NOW).retryAfterSeconds).toBe(7);
  });

  it('a refused connection is transient', async () => {
    const client = drive({ version: 'v3', rootUrl: 'http://127.0.0.1:9/', retry: false });
    const error: unknown = await client.files.list({ access_token: 'x' }).catch((e: unknown) => e);
    expect(classifyError(error, NOW).failure).toBe('transient');
  });
});

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(typeof body === 'string' ? body : JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });

describe('processRefreshResponse (RFC 6749 §5.1, §5.2)', () => {
  it('returns the access token, its expiry and the granted scopes', async () => {
    const token = await processRefreshResponse(
      json(200, {
        access_token: 'ya29.a',
        expires_in: 3599,
        scope: 'openid  email',
        token_type: 'Bearer',
      }),
      NOW,
    );
    expect(token).toEqual({
      accessToken: 'ya29.a',
      expiresAt: NOW + 3_599_000,
      scopes: ['openid', 'email'],
      refreshToken: undefined,
    });
  });

  it('an answer without scope says nothing about scopes (undefined, not empty)', async () => {
    const token = await processRefreshResponse(
      json(200, { access_token: 'a', expires_in: 60 }),
      NOW,
    );
    expect(token.scopes).toBeUndefined();
  });

  it('keeps a refresh token only when one is sent', async () => {
    const rotated = await processRefreshResponse(
      json(200, { access_token: 'a', expires_in: 60, refresh_token: '1//new' }),
      NOW,
    );
    expect(rotated.refreshToken).toBe('1//new');
    const empty = await processRefreshResponse(
      json(200, { access_token: 'a', expires_in: 60, refresh_token: '' }),
      NOW,
    );
    expect(empty.refreshToken).toBeUndefined();
  });

  it('an error answer becomes OAuthResponseError by its error field and subtype', async () => {
    const error: unknown = await processRefreshResponse(
      json(400, { error: 'invalid_grant', error_subtype: 'invalid_rapt', error_description: 'x' }),
      NOW,
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OAuthResponseError);
    expect(error).toMatchObject({ status: 400, error: 'invalid_grant', subtype: 'invalid_rapt' });
  });

  it('a 503 with an HTML body and a Retry-After date is transient with that delay', async () => {
    const retryAt = new Date(NOW + 45_000).toUTCString();
    const error: unknown = await processRefreshResponse(
      json(503, '<html>unavailable</html>', { 'retry-after': retryAt }),
      NOW,
    ).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 503, error: 'http_503', retryAfterSeconds: 45 });
    expect(classifyError(error, NOW).failure).toBe('transient');
  });

  it('a 200 without an access token is a malformed answer, not a token', async () => {
    const error: unknown = await processRefreshResponse(json(200, { expires_in: 60 }), NOW).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ error: 'invalid_token_response' });
  });
});

describe('revocation (RFC 7009 §2.2)', () => {
  it.each([
    [json(200, {}), 'revoked'],
    [
      json(400, { error: 'invalid_token', error_description: 'Token expired or revoked' }),
      'already-revoked',
    ],
  ])('answer %# → %s', async (response, result) => {
    expect(await processRevocationResponse(response, NOW)).toBe(result);
  });

  it('any other refusal is thrown with its error field', async () => {
    const error: unknown = await processRevocationResponse(
      json(400, { error: 'invalid_request' }),
      NOW,
    ).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 400, error: 'invalid_request' });
    expect(classifyError(error, NOW).failure).not.toBe('transient');
  });

  /** revokeToken with a scripted fetch; records the bodies it sent and the waits. */
  function scriptedRevoke(answers: (Response | Error)[]) {
    const bodies: string[] = [];
    const time = fakeTime();
    const fetchFn = ((_url: string, init: RequestInit) => {
      bodies.push(init.body as string);
      const next = answers.shift();
      if (next === undefined) throw new Error('unscripted');
      return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
    }) as typeof fetch;
    const run = () =>
      revokeToken('http://google.test/revoke', '1//refresh', {
        fetch: fetchFn,
        clock: time.clock,
        sleep: time.sleep,
        random: () => 0.5,
      });
    return { bodies, time, run };
  }

  it('retries outages and a lost connection, honouring Retry-After, then succeeds', async () => {
    const revoke = scriptedRevoke([
      json(503, {}, { 'retry-after': '2' }),
      new TypeError('fetch failed'),
      json(200, {}),
    ]);
    expect(await revoke.run()).toBe('revoked');
    expect(revoke.bodies).toEqual(Array(3).fill('token=1%2F%2Frefresh'));
    expect(revoke.time.waits).toEqual([2000, 250]);
  });

  it('gives up after three attempts of an outage', async () => {
    const revoke = scriptedRevoke([json(503, {}), json(502, {}), json(500, {})]);
    await expect(revoke.run()).rejects.toMatchObject({ status: 500 });
    expect(revoke.bodies).toHaveLength(3);
  });

  it('does not retry a refusal', async () => {
    const revoke = scriptedRevoke([json(401, { error: 'invalid_client' }), json(200, {})]);
    await expect(revoke.run()).rejects.toMatchObject({ status: 401, error: 'invalid_client' });
    expect(revoke.bodies).toHaveLength(1);
  });
});

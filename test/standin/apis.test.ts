// Plug-in APIs: an app's own Google API served by the stand-in, behind its Bearer check, with
// latency, faults, log and stats under the plug-in's name.
import { OAuth2Client } from 'google-auth-library';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  hasAnyScope,
  jsonReply,
  rpcInsufficientScope,
  startGoogleStandIn,
  type ApiCaller,
  type GoogleStandIn,
  type StandInApi,
} from './index.ts';
import { CLIENT, signIn, startTestStandIn, str } from './test-helpers.ts';

const CALENDAR = 'https://www.googleapis.com/auth/calendar';
const CALENDAR_READONLY = 'https://www.googleapis.com/auth/calendar.readonly';

/** A tiny Calendar events.list, as an app's job test would write it. */
function calendarApi(seen: ApiCaller[]): StandInApi {
  return {
    name: 'calendar',
    prefix: '/calendar/v3/',
    methods: ['GET'],
    handle(_ctx, caller) {
      seen.push(caller);
      if (!hasAnyScope(caller, [CALENDAR, CALENDAR_READONLY])) {
        return rpcInsufficientScope(
          { service: 'calendar-json.googleapis.com', method: 'calendar.v3.Events.List' },
          [CALENDAR, CALENDAR_READONLY],
        );
      }
      return jsonReply(200, { kind: 'calendar#events', items: [{ summary: 'Standup' }] });
    },
    reset: () => {
      seen.length = 0;
    },
  };
}

const seen: ApiCaller[] = [];
let standIn: GoogleStandIn;
beforeAll(async () => {
  standIn = await startTestStandIn({ apis: [calendarApi(seen)] });
});
afterAll(() => standIn.close());
beforeEach(() => standIn.control.reset());

const eventsUrl = (): string => `${standIn.endpoints.apiRoot}calendar/v3/calendars/primary/events`;

async function tokenFor(scope: string): Promise<string> {
  return str((await signIn(standIn, { scope: `openid email ${scope}` }))['access_token']);
}

async function get(
  token?: string,
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(eventsUrl(), {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
  return {
    status: res.status,
    body: (await res.json()) as Record<string, unknown>,
    headers: res.headers,
  };
}

describe('plug-in APIs', () => {
  it('401 without a token or with a bad one; the handler is never called', async () => {
    const missing = await get();
    expect(missing.status).toBe(401);
    expect(missing.body['error']).toMatchObject({ code: 401, status: 'UNAUTHENTICATED' });
    expect(missing.headers.get('www-authenticate')).toBe(
      'Bearer realm="https://accounts.google.com/"',
    );
    const bad = await get('ya29.nope');
    expect(bad.status).toBe(401);
    expect(bad.headers.get('www-authenticate')).toContain('error="invalid_token"');
    const token = await tokenFor(CALENDAR_READONLY);
    standIn.control.advanceClock(3600_000);
    expect((await get(token)).status).toBe(401);
    expect(seen).toEqual([]);
  });

  it('the handler sees the caller: user, sub, client and granted scopes', async () => {
    const auth = new OAuth2Client();
    auth.setCredentials({ access_token: await tokenFor(CALENDAR_READONLY) });
    const answer = await auth.request<{ items: unknown[] }>({ url: eventsUrl() });
    expect(answer.data.items).toEqual([{ summary: 'Standup' }]);
    expect(seen).toHaveLength(1);
    const caller = seen[0];
    expect(Object.keys(caller ?? {})).toEqual(['email', 'sub', 'clientId', 'scopes']);
    expect(caller?.email).toBe('user@example.com');
    expect(caller?.sub).toMatch(/^\d{21}$/);
    expect(caller?.clientId).toBe(CLIENT.clientId);
    expect(caller?.scopes).toContain(CALENDAR_READONLY);
    expect(caller?.scopes).toContain('openid');
    expect(caller?.scopes).not.toContain(CALENDAR);
  });

  it('the handler answers insufficient scope with the helper', async () => {
    const { status, body, headers } = await get(
      await tokenFor('https://www.googleapis.com/auth/drive.file'),
    );
    expect(status).toBe(403);
    expect(body['error']).toMatchObject({
      status: 'PERMISSION_DENIED',
      details: [
        {
          reason: 'ACCESS_TOKEN_SCOPE_INSUFFICIENT',
          metadata: { service: 'calendar-json.googleapis.com', method: 'calendar.v3.Events.List' },
        },
      ],
    });
    expect(headers.get('www-authenticate')).toContain(`scope="${CALENDAR} ${CALENDAR_READONLY}"`);
  });

  it('faults injected on the plug-in’s name hit it, in its error shape, and are logged', async () => {
    const token = await tokenFor(CALENDAR_READONLY);
    standIn.control.injectFault('calendar', { kind: 'status', status: 503 });
    const failed = await get(token);
    expect(failed.status).toBe(503);
    expect(failed.body['error']).toMatchObject({ code: 503, status: 'UNAVAILABLE' });
    expect(seen).toEqual([]);

    const res = await fetch(`${standIn.url}/__control/faults`, {
      method: 'POST',
      body: JSON.stringify({ endpoint: 'calendar', kind: 'rateLimit', retryAfterSeconds: 2 }),
    });
    expect(res.status).toBe(200);
    const limited = await get(token);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('2');
    expect((await get(token)).status).toBe(200);

    const calendarLog = standIn.control.requestLog().filter((e) => e.endpoint === 'calendar');
    expect(calendarLog.map((e) => [e.status, e.fault])).toEqual([
      [503, 'status'],
      [429, 'rateLimit'],
      [200, undefined],
    ]);
    expect(calendarLog[0]?.path).toBe('/calendar/v3/calendars/primary/events');
    expect(standIn.control.stats()['calendar']).toEqual({
      requests: 3,
      byStatus: { '200': 1, '429': 1, '503': 1 },
    });
  });

  it('latency applies to it; methods outside its list get 405', async () => {
    const token = await tokenFor(CALENDAR_READONLY);
    standIn.control.setLatency(120);
    const started = performance.now();
    expect((await get(token)).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(110);
    standIn.control.setLatency(0);
    const post = await fetch(eventsUrl(), {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(post.status).toBe(405);
  });

  it('control knows the plug-in’s name and refuses others; reset reaches the plug-in', async () => {
    expect(standIn.control.endpointNames()).toContain('calendar');
    expect(() => standIn.control.injectFault('calender', { kind: 'drop' })).toThrow(RangeError);
    await get(await tokenFor(CALENDAR_READONLY));
    expect(seen).toHaveLength(1);
    standIn.control.reset();
    expect(seen).toEqual([]);
  });
});

describe('plug-in API options', () => {
  it('errorShape legacy answers 401 with errors[].reason authError', async () => {
    const legacy = await startGoogleStandIn({
      clients: [CLIENT],
      apis: [
        {
          name: 'gmail',
          prefix: '/gmail/v1/',
          errorShape: 'legacy',
          handle: () => jsonReply(200, {}),
        },
      ],
    });
    try {
      const res = await fetch(`${legacy.endpoints.apiRoot}gmail/v1/users/me/messages`);
      expect(res.status).toBe(401);
      const body = (await res.json()) as { error: { errors: Array<{ reason: string }> } };
      expect(body.error.errors[0]?.reason).toBe('authError');
    } finally {
      await legacy.close();
    }
  });

  it.each([
    [{ name: 'drive', prefix: '/x/v1/' }, 'name'],
    [{ name: 'Calendar', prefix: '/x/v1/' }, 'name'],
    [{ name: 'files', prefix: '/drive/' }, 'overlaps'],
    [{ name: 'auth2', prefix: '/oauth2/' }, 'overlaps'],
    [{ name: 'x', prefix: 'x/v1' }, 'prefix'],
  ])('refuses %j', async (api, message) => {
    await expect(
      startGoogleStandIn({
        clients: [CLIENT],
        apis: [{ ...api, handle: () => jsonReply(200, {}) }],
      }),
    ).rejects.toThrow(message);
  });
});

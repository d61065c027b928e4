// A 64 KB path and query of `eyJ` repeats (what a backtracking JWT pattern chokes on) costs each
// public function about what a normal request costs: its 4xx logs the path, and the logger cuts
// and masks it in linear time (shared/log.ts). CPU time of the process, median of several runs,
// compared as a ratio with a normal request of the same function measured in the same test.
// Handed straight to the handlers: Node refuses request lines above 16 KB before any function.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizeHandler } from '../../shared/flows/authorize.ts';
import { callbackHandler } from '../../shared/flows/callback.ts';
import { revokeHandler } from '../../shared/flows/revoke.ts';
import { MAX_TEXT } from '../../shared/log.ts';
import type { Handler, HttpRequest } from '../../shared/web/http.ts';
import { createUnsubscribeLink } from '../../shared/web/unsubscribe-link.ts';
import { startTestApp, type TestApp } from '../support/app.ts';

/** A 64 KB request may cost this many normal requests (the log line's cost used to be ~1000). */
const MAX_RATIO = 8;
const SAMPLES = 7;

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(async () => {
  await app?.close();
});

function get(url: string): HttpRequest {
  return {
    method: 'GET',
    url: new URL(url),
    headers: {},
    cookies: new Map(),
    form: undefined,
    json: undefined,
  };
}

/** CPU time (µs) of the process per answer to `url`: median of samples of 10 answers each. */
async function cpuOf(handler: Handler, url: string): Promise<{ micros: number; status: number }> {
  let status = (await handler(get(url))).status; // warm
  const samples: number[] = [];
  for (let sample = 0; sample < SAMPLES; sample += 1) {
    const start = process.cpuUsage();
    for (let answer = 0; answer < 10; answer += 1) status = (await handler(get(url))).status;
    const used = process.cpuUsage(start);
    samples.push((used.user + used.system) / 10);
  }
  return { micros: samples.sort((a, b) => a - b)[Math.floor(SAMPLES / 2)]!, status };
}

const EYJ = 'eyJ'.repeat((64 * 1024) / 3);
const FUNCTIONS = ['authorize', 'callback', 'revoke'] as const;

/** The path and query each function reads, with `value` in them. */
const adversarialPath = {
  authorize: (value: string) => `/${value}?return_to=${value}`,
  callback: (value: string) => `/${value}?state=${value}&code=4%2F0x`,
  revoke: (value: string) => `/${value}?u=${value}&e=1&k=k1&s=x`,
};

/** An everyday request: a consent start, a callback without its cookie, an unsubscribe link. */
async function normalUrl(name: (typeof FUNCTIONS)[number]): Promise<string> {
  if (name === 'authorize') return app.urls.authorize;
  if (name === 'callback')
    return `${app.urls.callback}?state=${randomBytes(32).toString('base64url')}&code=4%2F0x`;
  const keys = await app.runtime.keys('link');
  return createUnsubscribeLink(keys, app.urls.revoke, '1048576', Date.now() + 3600_000);
}

describe('a 64 KB path and query of eyJ repeats', () => {
  it.each(FUNCTIONS)(
    '%s: a 4xx, logged with its path cut, for about the CPU of a normal request',
    async (name) => {
      const handler = {
        authorize: authorizeHandler,
        callback: callbackHandler,
        revoke: revokeHandler,
      }[name](app.runtime);
      const url = `${app.urls[name].replace(/\/$/, '')}${adversarialPath[name](EYJ)}`;
      // One answer first: a 4xx whose log line holds the path cut, not all 64 KB of it.
      const logged = app.logs.length;
      const first = await handler(get(url));
      expect(first.status).toBeGreaterThanOrEqual(400);
      expect(first.status).toBeLessThan(500);
      const paths = app.logs.slice(logged).map((line) => String(line.path));
      expect(paths).toHaveLength(1);
      expect(paths[0]!.length).toBeLessThan(2 * MAX_TEXT);
      expect(paths[0]).toContain(`[cut: ${new URL(url).pathname.length} characters]`);

      const normal = await cpuOf(handler, await normalUrl(name));
      expect(normal.status).toBeLessThan(500);
      const adversarial = await cpuOf(handler, url);
      expect(adversarial.status).toBe(first.status);
      expect(adversarial.micros / normal.micros).toBeLessThan(MAX_RATIO);
    },
  );
});

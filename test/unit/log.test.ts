// The redacting logger: nothing secret reaches a log line, whatever shape it arrives in.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OAuthResponseError, AppError } from '../../shared/errors.ts';
import { createLogger, MAX_TEXT, redactText, registerSecretValue } from '../../shared/log.ts';
import { Secret } from '../../shared/secrets/secret-value.ts';

const ACCESS = 'ya29.a0AfB_byC-ACCESS-token_123';
const REFRESH = '1//0gREFRESH-token_abc.def';
const CODE = '4/0AeaYSHBcode-value_xyz';
const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMDQ4NTc2In0.c2lnbmF0dXJlLWJ5dGVzLW9mLWEtand0';
/** Not shaped like any Google token: only key-based or structural redaction can hide it. */
const OPAQUE = 'opaque-credential-Zq8XwV3p';

function capture(level: 'DEBUG' | 'INFO' = 'DEBUG') {
  const lines: string[] = [];
  const log = createLogger({ level, sink: (line) => lines.push(line) });
  return { log, lines, text: () => lines.join('\n') };
}

describe('logger redaction', () => {
  it('writes one Cloud Logging JSON object per line', () => {
    const { log, lines } = capture('INFO');
    log.debug('hidden');
    log.info('hello', { sub: '123' });
    log.warn('careful');
    log.error('broken');
    expect(lines).toHaveLength(3);
    const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(parsed.map((line) => line.severity)).toEqual(['INFO', 'WARNING', 'ERROR']);
    expect(parsed[0]).toMatchObject({ message: 'hello', sub: '123' });
    expect(typeof parsed[0]!.time).toBe('string');
  });

  it('replaces values under secret-sounding keys, at any depth', () => {
    const { log, text } = capture();
    const keys = [
      'refreshToken',
      'access_token',
      'id_token',
      'client_secret',
      'clientSecret',
      'password',
      'Authorization',
      'cookie',
      'set-cookie',
      'code_verifier',
      'nonce',
      'state',
      'key',
      'keyset',
      'credentials',
      'assertion',
      'signature',
      'sig',
    ];
    const fields = Object.fromEntries(keys.map((key) => [key, OPAQUE]));
    log.info('fields', { ...fields, nested: { deeper: [{ ...fields }] } });
    expect(text()).not.toContain(OPAQUE);
    const line = JSON.parse(text()) as Record<string, unknown>;
    expect(line.refreshToken).toBe('[redacted]');
    expect(line.state).toBe('[redacted]');
  });

  it('prints Secret instances as a placeholder', () => {
    const { log, text } = capture();
    const secret = new Secret(OPAQUE);
    log.info(`value ${String(secret)}`, { holder: secret, list: [secret], inner: { x: secret } });
    expect(text()).not.toContain(OPAQUE);
    expect(JSON.stringify({ secret })).not.toContain(OPAQUE);
  });

  it('masks Google token shapes inside any string, message included', () => {
    const { log, text } = capture();
    log.info(`got ${ACCESS} and ${REFRESH}`, {
      note: `code=${CODE}&x=1`,
      encoded: `code=${encodeURIComponent(CODE)}`,
      jwt: `Bearer ${JWT}`,
      list: [`r ${REFRESH}`],
    });
    for (const token of [ACCESS, REFRESH, CODE, encodeURIComponent(CODE), JWT])
      expect(text()).not.toContain(token);
    expect(redactText(`a ${ACCESS} b`)).toBe('a [redacted] b');
  });

  it('masks registered secret values wherever they appear', () => {
    const clientSecret = `GOCSPX-${OPAQUE}-registered`;
    registerSecretValue(clientSecret);
    const { log, text } = capture();
    log.info(`secret ${clientSecret}`, {
      url: `https://x/?s=${clientSecret}`,
      deep: [[clientSecret]],
    });
    expect(text()).not.toContain(clientSecret);
  });

  it('reduces errors to name, code and message: a gaxios config/response never leaks', () => {
    const { log, text } = capture();
    const gaxios = Object.assign(new Error('invalid_grant'), {
      name: 'GaxiosError',
      code: '400',
      status: 400,
      config: {
        url: `https://oauth2.googleapis.com/token?token=${OPAQUE}`,
        data: `refresh_token=${OPAQUE}&client_secret=${OPAQUE}`,
        headers: { authorization: `Bearer ${OPAQUE}` },
        body: OPAQUE,
      },
      response: {
        status: 400,
        data: { error: 'invalid_grant', access_token: OPAQUE, raw: OPAQUE },
        config: { data: OPAQUE },
        request: { responseURL: `https://x/?code=${OPAQUE}` },
      },
    });
    const wrapped = new AppError('oauth_error', 400, 'Please start again.', { cause: gaxios });
    log.error('exchange failed', { error: gaxios, wrapped, list: [gaxios], nested: { e: gaxios } });
    expect(text()).not.toContain(OPAQUE);
    const line = JSON.parse(text()) as { error: Record<string, unknown> };
    expect(line.error).toEqual({
      name: 'GaxiosError',
      message: 'invalid_grant',
      code: '400',
      status: 400,
    });
  });

  it('masks token shapes in an error message and never follows its cause', () => {
    const { log, text } = capture();
    const inner = new Error(`inner ${OPAQUE}`);
    const error = new Error(`refresh ${REFRESH} failed`, { cause: inner });
    log.warn('failed', { error });
    expect(text()).not.toContain(REFRESH);
    expect(text()).not.toContain(OPAQUE);
  });

  it("regression: token shapes in an error's code/error/subtype fields are masked too", () => {
    // Bug: describeError copied `code`, `error` and `subtype` strings without redaction.
    const { log, text } = capture();
    const error = Object.assign(new OAuthResponseError(400, `invalid ${ACCESS}`, REFRESH), {
      code: `code ${CODE}`,
    });
    log.error('refresh failed', { error });
    for (const token of [ACCESS, REFRESH, CODE]) expect(text()).not.toContain(token);
    const line = JSON.parse(text()) as { error: Record<string, unknown> };
    expect(line.error.status).toBe(400);
  });

  it('child loggers keep redacting their base fields', () => {
    const { log, text } = capture();
    log.child({ token: OPAQUE, run: 'r1' }).info(`child ${ACCESS}`);
    expect(text()).not.toContain(OPAQUE);
    expect(text()).not.toContain(ACCESS);
    expect(text()).toContain('"run":"r1"');
  });
});

describe('long strings: cut to MAX_TEXT before any pattern runs', () => {
  const REGISTERED = 'GOCSPX-registered-Zq8XwV3pQ7';
  registerSecretValue(REGISTERED);

  it('keeps the first MAX_TEXT characters and says how long the string was', () => {
    const { log, text } = capture();
    const path = `/${'a'.repeat(64 * 1024)}`;
    log.warn('too long', { path });
    const line = JSON.parse(text()) as { path: string };
    expect(line.path).toBe(`${path.slice(0, MAX_TEXT)}…[cut: ${path.length} characters]`);
    expect(redactText('short')).toBe('short');
  });

  it('never splits a surrogate pair', () => {
    const cut = redactText(`${'a'.repeat(MAX_TEXT - 1)}\u{1F600}${'b'.repeat(10)}`);
    expect(cut.startsWith(`${'a'.repeat(MAX_TEXT - 1)}…`)).toBe(true);
  });

  it('masks a token, code, JWT or registered secret wherever the cut falls (property)', () => {
    // Filler that no token shape can start in or be built from.
    const filler = fc.string({
      unit: fc.constantFrom('q', 'w', 'z', ' ', '&', '=', ','),
      minLength: 1,
    });
    const secrets = [ACCESS, REFRESH, CODE, encodeURIComponent(CODE), JWT, REGISTERED];
    fc.assert(
      fc.property(
        fc.constantFrom(...secrets),
        fc.integer({ min: MAX_TEXT - 90, max: MAX_TEXT + 10 }),
        filler,
        filler,
        (secret, at, before, after) => {
          const text = `${textOf(before, at)}${secret}${textOf(after, 2000)}`;
          const out = redactText(text);
          expect(out.length).toBeLessThan(MAX_TEXT + 40);
          // No six characters in a row of the secret are left, whatever part the cut kept.
          for (let start = 0; start + 6 <= secret.length; start += 1)
            expect(out, secret).not.toContain(secret.slice(start, start + 6));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('cuts a long key and still redacts its value when the secret-sounding part is past the cut', () => {
    const { log, text } = capture();
    log.info('long key', { [`${'k'.repeat(MAX_TEXT * 2)}_token`]: OPAQUE });
    expect(text()).not.toContain(OPAQUE);
    expect(text().length).toBeLessThan(2 * MAX_TEXT);
  });
});

function textOf(unit: string, length: number): string {
  return unit.repeat(Math.ceil(length / unit.length)).slice(0, length);
}

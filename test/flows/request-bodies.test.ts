// Issue 13, items 1 and 2: bodies are bounded before any parser runs, and every body error is our
// own answer and log line. Checked on the real build of each public function, started exactly as
// Cloud Run starts it (functions-framework's main on dist/<name>), each in a process of its own so
// that its memory can be read from /proc. Regression: functions-framework's Express parsed any body
// up to 1 GiB first (a 21 MB JSON body grew revoke from 77 MB to 881 MB) and answered what it could
// not parse itself, with a stack trace and the raw body on stderr.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFunctions } from '../../infra/build.ts';
import { generateKeysetJson } from '../../shared/crypto/keyset.ts';
import { findLeaks } from '../log-scan/scan.ts';
import { CLIENT, signIn, startTestStandIn } from '../standin/test-helpers.ts';
import type { GoogleStandIn } from '../standin/index.ts';
import { recordIssuedSecrets, recordOutput } from '../support/capture.ts';
import { freePort, stopChild } from '../support/emulators.ts';
import { googleEndpointSettings } from '../support/google-settings.ts';

const FRAMEWORK = path.resolve('node_modules/@google-cloud/functions-framework/build/src/main.js');
const PUBLIC = ['authorize', 'callback', 'revoke', 'risc'] as const;
type Name = (typeof PUBLIC)[number];
const MB = 1024 * 1024;
/** The most any body rule holds in memory (shared/web/bodies.ts), plus one socket read past it. */
const MOST_HELD = 64 * 1024 + 64 * 1024;

interface Running {
  readonly child: ChildProcess;
  readonly port: number;
  /** Every line the process wrote to stdout and stderr. */
  readonly lines: string[];
}

let outRoot: string;
let standIn: GoogleStandIn;
let refreshToken: string;
const running = {} as Record<Name, Running>;

async function start(name: Name, env: Record<string, string>): Promise<Running> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [FRAMEWORK, `--target=${name}`, `--source=${path.join(outRoot, name)}`, `--port=${port}`],
    { env: { ...env, PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: string[] = [];
  let partial = '';
  const collect = (chunk: Buffer) => {
    recordOutput(chunk.toString('utf8'));
    const text = partial + chunk.toString('utf8');
    const parts = text.split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  for (let attempt = 0; attempt < 300; attempt += 1) {
    if (child.exitCode !== null) break;
    try {
      await (await fetch(`http://127.0.0.1:${port}/`, { redirect: 'manual' })).arrayBuffer();
      return { child, port, lines };
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error(`${name} did not start:\n${lines.join('\n')}`);
}

beforeAll(async () => {
  // Inside the checkout, so the bundle resolves functions-framework as it would when installed.
  await mkdir('.local', { recursive: true });
  outRoot = await mkdtemp(path.resolve('.local/request-bodies-'));
  await buildFunctions(outRoot, { codeCache: false });
  standIn = await startTestStandIn();
  const granted = await signIn(standIn, { access_type: 'offline' });
  refreshToken = String(granted.refresh_token);
  const env: Record<string, string> = {
    GOOGLE_CLOUD_PROJECT: 'demo-request-bodies',
    FIRESTORE_EMULATOR_HOST: process.env.FIRESTORE_EMULATOR_HOST ?? '127.0.0.1:1',
    METADATA_SERVER_DETECTION: 'none',
    OAUTH_CLIENT_ID: CLIENT.clientId,
    OAUTH_CLIENT_SECRET: CLIENT.clientSecret,
    TOKEN_KEYSET: generateKeysetJson('k1'),
    // Only where the pages link to: nothing here follows them.
    REDIRECT_URI: 'http://localhost:1/callback',
    AUTHORIZE_URL: 'http://localhost:1/authorize',
    REVOKE_URL: 'http://localhost:1/revoke',
    REVOKE_CALLERS: 'app-backend@demo-request-bodies.iam.gserviceaccount.com',
    ...googleEndpointSettings(standIn.endpoints),
  };
  const started = await Promise.all(PUBLIC.map((name) => start(name, env)));
  PUBLIC.forEach((name, index) => (running[name] = started[index]!));
}, 120_000);

afterAll(async () => {
  await Promise.all(Object.values(running).map(({ child }) => stopChild(child)));
  if (standIn) {
    recordIssuedSecrets(standIn.control.issuedSecrets());
    await standIn.close();
  }
  if (outRoot) await rm(outRoot, { recursive: true, force: true });
});

interface Sent {
  readonly method: string;
  readonly path?: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  /** Chunked, without a Content-Length. */
  readonly chunked?: boolean;
}

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
}

/**
 * Sends the body in 64 KiB writes, waiting for the socket to drain between them, and stops
 * writing once the answer has come: what a client does when the server refuses early.
 */
function send(name: Name, sent: Sent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let answered = false;
    let failed: Error | undefined;
    const req = request(
      {
        host: '127.0.0.1',
        port: running[name].port,
        method: sent.method,
        path: sent.path ?? '/',
        agent: false,
        headers: {
          ...sent.headers,
          ...(sent.chunked
            ? { 'transfer-encoding': 'chunked' }
            : { 'content-length': String(sent.body.length) }),
        },
      },
      (res) => {
        answered = true;
        readAnswer(res).then(resolve, reject);
      },
    );
    // The server may close once it has answered, while this side still writes: only a failure
    // before any answer counts.
    req.on('error', (error) => {
      failed = error;
      setTimeout(() => {
        if (!answered) reject(error);
      }, 1000);
    });
    void (async () => {
      for (let offset = 0; offset < sent.body.length; offset += 64 * 1024) {
        if (answered || failed) return;
        if (!req.write(sent.body.subarray(offset, offset + 64 * 1024)))
          await new Promise<void>((resume) => {
            const go = () => {
              req.off('drain', go).off('close', go);
              resume();
            };
            req.on('drain', go).on('close', go);
          });
      }
      if (!answered && !failed) req.end();
    })();
  });
}

/** The process's resident and peak resident memory, in MB (/proc/<pid>/status). */
function memoryOf(name: Name): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${running[name].child.pid}/status`, 'utf8');
  const field = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
  return { rss: field('VmRSS') / 1024, peak: field('VmHWM') / 1024 };
}

/** The function's log lines (its JSON lines; anything else it printed stays a string). */
function logLines(name: Name): Array<Record<string, unknown> | string> {
  return running[name].lines.map((line) => {
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      return line;
    }
  });
}

/** Waits for the log line of the refusal answered after `count` earlier ones. */
async function refusalLine(name: Name, count: number): Promise<Record<string, unknown>> {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const refusals = logLines(name).filter(
      (line): line is Record<string, unknown> => typeof line === 'object' && 'requestBody' in line,
    );
    if (refusals.length > count) return refusals[count]!;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`no refusal logged by ${name}:\n${running[name].lines.slice(-5).join('\n')}`);
}

function refusalCount(name: Name): number {
  return logLines(name).filter((line) => typeof line === 'object' && 'requestBody' in line).length;
}

function expectOurAnswer(answer: Answer, style: 'page' | 'json'): void {
  expect(answer.headers['cache-control']).toBe('no-store');
  expect(answer.headers['x-content-type-options']).toBe('nosniff');
  expect(answer.headers['strict-transport-security']).toContain('max-age=');
  expect(answer.headers['content-security-policy']).toContain("default-src 'none'");
  expect(answer.headers['content-type']).toContain(
    style === 'json' ? 'application/json' : 'text/html',
  );
  expect(answer.text).not.toMatch(/\bat .*\(|node_modules|SyntaxError|Error:|<pre>/);
}

// ---------------------------------------------------------------------------------------------
// Big bodies

/** Many small objects: the costliest JSON to parse per byte (each `{}` becomes an object). */
function jsonOf(bytes: number): Buffer {
  return Buffer.from(`{"sub":[${'{},'.repeat(Math.floor((bytes - 12) / 3))}{}]}`);
}

function formOf(bytes: number): Buffer {
  return Buffer.from(`sub=1${'&a=1'.repeat(Math.floor((bytes - 5) / 4))}`);
}

type Kind = 'json' | 'form' | 'text' | 'gzip' | 'chunked';
const KINDS: readonly Kind[] = ['json', 'form', 'text', 'gzip', 'chunked'];
const SIZES = [1, 20, 30] as const;

/** The methods (and, for revoke, the API paths) of each function. */
const TARGETS: Record<Name, ReadonlyArray<{ method: string; path?: string }>> = {
  authorize: [{ method: 'GET' }, { method: 'POST' }],
  callback: [{ method: 'GET' }, { method: 'POST' }],
  revoke: [
    { method: 'GET' },
    { method: 'POST' },
    { method: 'POST', path: '/settings' },
    { method: 'POST', path: '/connect-links' },
  ],
  risc: [{ method: 'GET' }, { method: 'POST' }],
};

/** The media type a function reads (the others read none), for the text and chunked bodies. */
const OWN_TYPE: Record<Name, string> = {
  authorize: 'text/plain',
  callback: 'text/plain',
  revoke: 'application/json',
  risc: 'application/secevent+jwt',
};

const bodies = new Map<string, Buffer>();
function bodyOf(kind: Kind, size: number): Buffer {
  const key = `${kind}-${size}`;
  let body = bodies.get(key);
  if (body === undefined) {
    const bytes = size * MB;
    if (kind === 'form') body = formOf(bytes);
    else if (kind === 'text') body = Buffer.alloc(bytes, 'x');
    // A gzip bomb: the wire carries some KB; inflated, the body is `size` MB of JSON.
    else if (kind === 'gzip') body = gzipSync(bodyOf('json', size));
    else body = kind === 'chunked' ? bodyOf('json', size) : jsonOf(bytes);
    bodies.set(key, body);
  }
  return body;
}

function sentOf(name: Name, target: { method: string; path?: string }, kind: Kind, size: number) {
  const type: Record<Kind, string> = {
    json: 'application/json',
    form: 'application/x-www-form-urlencoded',
    text: OWN_TYPE[name],
    gzip: 'application/json',
    chunked: OWN_TYPE[name],
  };
  return {
    ...target,
    headers: {
      'content-type': type[kind],
      ...(kind === 'gzip' ? { 'content-encoding': 'gzip' } : {}),
    },
    body: bodyOf(kind, size),
    chunked: kind === 'chunked',
  } satisfies Sent;
}

describe.each(PUBLIC)('%s under 1, 20 and 30 MB bodies', (name) => {
  it('answers every method and kind with its own 4xx, holds at most the limit and grows by less than 20 MB', async () => {
    const before = memoryOf(name);
    for (const target of TARGETS[name])
      for (const size of SIZES)
        for (const kind of KINDS) {
          const label = `${target.method} ${target.path ?? '/'} ${kind} ${size} MB`;
          const earlier = refusalCount(name);
          const answer = await send(name, sentOf(name, target, kind, size)).catch(
            (error: unknown) => {
              throw new Error(`${label}: no answer`, { cause: error });
            },
          );
          expect([413, 415], label).toContain(answer.status);
          expectOurAnswer(answer, name === 'risc' ? 'json' : 'page');
          const line = await refusalLine(name, earlier);
          const facts = line.requestBody as { reason: string; bytesHeld: number };
          expect(line.status, label).toBe(answer.status);
          expect(facts.bytesHeld, label).toBeLessThanOrEqual(MOST_HELD);
          // Read while streaming, and given up at the limit: only a body its path takes.
          if (kind === 'chunked' && name !== 'authorize' && name !== 'callback')
            expect(facts.reason, label).toBe(
              target.method === 'GET' ? 'no_body_here' : 'too_large',
            );
        }
    const after = memoryOf(name);
    expect(after.peak - before.rss, `${name} peak RSS growth (MB)`).toBeLessThan(20);
  }, 120_000);
});

/** The status, headers and text of an answer, once it has all come. */
function readAnswer(res: IncomingMessage): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (chunk: Buffer) => chunks.push(chunk));
    res.on('end', () =>
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        text: Buffer.concat(chunks).toString('utf8'),
      }),
    );
    res.on('error', reject);
  });
}

/**
 * Sends only the headers, with `Expect: 100-continue`, and the body once (if) the server says
 * to go on (RFC 9110 §10.1.1).
 */
function sendAfterContinue(name: Name, sent: Sent): Promise<Answer & { continued: boolean }> {
  return new Promise((resolve, reject) => {
    let continued = false;
    const req = request({
      host: '127.0.0.1',
      port: running[name].port,
      method: sent.method,
      path: sent.path ?? '/',
      agent: false,
      headers: { ...sent.headers, expect: '100-continue' },
    });
    req.on('continue', () => {
      continued = true;
      req.end(sent.body);
    });
    req.on('response', (res) => {
      readAnswer(res).then((answer) => resolve({ ...answer, continued }), reject);
    });
    req.on('error', reject);
    req.flushHeaders();
  });
}

describe('a client waiting for 100 Continue', () => {
  it('gets the refusal of a body too large for its path, and never the go-ahead', async () => {
    const earlier = refusalCount('revoke');
    const answer = await sendAfterContinue('revoke', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': String(20 * MB) },
      body: Buffer.alloc(0),
    });
    expect(answer.status).toBe(413);
    expect(answer.continued).toBe(false);
    expectOurAnswer(answer, 'page');
    expect((await refusalLine('revoke', earlier)).requestBody).toMatchObject({
      reason: 'too_large',
      bytesHeld: 0,
      declaredBytes: 20 * MB,
    });
  });

  it('gets the go-ahead for a body its path takes, and the flow answers it', async () => {
    const body = Buffer.from('{"sub":"123"}');
    const answer = await sendAfterContinue('revoke', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': String(body.length) },
      body,
    });
    expect(answer.continued).toBe(true);
    // The body reached the flow: without link fields or a caller's token, the page's 400.
    expect(answer.status).toBe(400);
    expect(answer.text).toContain('Please use the button on the unsubscribe page.');
  });
});

// ---------------------------------------------------------------------------------------------
// Malformed bodies: our 400, our headers, and the body in no log line

describe('malformed bodies', () => {
  const json = { 'content-type': 'application/json' };
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  const api = { ...json, authorization: 'Bearer not-checked-before-the-body' };
  const malformedJson = () => Buffer.from(`{"sub": "${refreshToken}", "job": [`);
  const cases: ReadonlyArray<
    readonly [string, () => Sent, 'page' | 'json', number, string | undefined]
  > = [
    [
      'malformed JSON with a refresh token (API)',
      () => ({ method: 'POST', headers: api, body: malformedJson() }),
      'json',
      400,
      'json_syntax',
    ],
    [
      'malformed JSON with a refresh token (page)',
      () => ({ method: 'POST', headers: json, body: malformedJson() }),
      'page',
      400,
      'json_syntax',
    ],
    [
      'malformed JSON with a refresh token, chunked',
      () => ({
        method: 'POST',
        path: '/settings',
        headers: api,
        body: malformedJson(),
        chunked: true,
      }),
      'json',
      400,
      'json_syntax',
    ],
    [
      'over-deep JSON',
      () => ({
        method: 'POST',
        headers: api,
        body: Buffer.from(`${'['.repeat(5000)}${']'.repeat(5000)}`),
      }),
      'json',
      400,
      'json_depth',
    ],
    [
      'too many form fields',
      () => ({
        method: 'POST',
        headers: form,
        body: Buffer.from(`sub=${refreshToken}${'&a=1'.repeat(1000)}`),
      }),
      'page',
      400,
      'form_fields',
    ],
    [
      'an unknown charset',
      () => ({
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=klingon' },
        body: Buffer.from(`sub=${refreshToken}`),
      }),
      'page',
      400,
      'charset',
    ],
    [
      'bytes that are not UTF-8',
      () => ({
        method: 'POST',
        headers: form,
        body: Buffer.concat([Buffer.from(`sub=${refreshToken}&x=`), Buffer.from([0xff, 0xfe])]),
      }),
      'page',
      400,
      'not_utf8',
    ],
    [
      'a body that is not gzip, said to be',
      () => ({
        method: 'POST',
        headers: { ...api, 'content-encoding': 'gzip' },
        body: Buffer.from(refreshToken),
      }),
      'json',
      415,
      'content_encoding',
    ],
  ];

  it.each(cases)('revoke: %s gets our answer', async (_label, make, style, status, reason) => {
    const earlier = refusalCount('revoke');
    const answer = await send('revoke', make());
    expect(answer.status).toBe(status);
    expectOurAnswer(answer, style);
    const line = await refusalLine('revoke', earlier);
    expect((line.requestBody as { reason: string }).reason).toBe(reason);
    expect(answer.text).not.toContain(refreshToken);
  });

  it.each(['authorize', 'callback', 'risc'] as const)(
    '%s: malformed JSON with a refresh token gets our answer',
    async (name) => {
      const earlier = refusalCount(name);
      const answer = await send(name, { method: 'POST', headers: json, body: malformedJson() });
      // No body here, or (risc) not the kind of body it reads.
      expect(answer.status).toBe(name === 'risc' ? 415 : 413);
      expectOurAnswer(answer, name === 'risc' ? 'json' : 'page');
      await refusalLine(name, earlier);
    },
  );

  it('risc: a malformed Security Event Token holding a refresh token gets our 400', async () => {
    const answer = await send('risc', {
      method: 'POST',
      headers: { 'content-type': 'application/secevent+jwt' },
      body: Buffer.from(`eyJhbGciOiJub25lIn0.${refreshToken}.`),
    });
    expect(answer.status).toBe(400);
    expectOurAnswer(answer, 'json');
  });

  it.each(PUBLIC)(
    '%s: a bad percent-encoding in the path gets our answer, not Express’s',
    async (name) => {
      const answer = await send(name, {
        method: 'GET',
        path: '/%E0%A4%A?x=%zz',
        headers: {},
        body: Buffer.alloc(0),
      });
      expect(answer.status).toBeLessThan(500);
      expect(answer.headers['cache-control']).toBe('no-store');
      expect(answer.text).not.toMatch(/URIError|\bat .*\(|<pre>/);
    },
  );

  it('no function printed a stack trace, and the log scan finds the refresh token nowhere', () => {
    const outputs = new Map(PUBLIC.map((name) => [name, running[name].lines.join('\n')]));
    expect(findLeaks(outputs, [refreshToken])).toEqual([]);
    for (const name of PUBLIC) {
      expect(outputs.get(name), name).not.toMatch(/\n\s+at .*\(|SyntaxError|URIError/);
      // Every line a function wrote is one of our JSON log lines.
      const foreign = logLines(name).filter((line) => typeof line === 'string' && line !== '');
      expect(foreign, name).toEqual([]);
      // Not one request reached functions-framework's own app (serve-http.ts logs it as an error).
      const errors = logLines(name).filter(
        (line) => typeof line === 'object' && line.severity === 'ERROR',
      );
      expect(errors, name).toEqual([]);
    }
  });
});

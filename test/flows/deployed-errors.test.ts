// Regression: the functions-framework's Express answers unparseable bodies before our handler
// runs, and printed a stack trace in the 400 page unless NODE_ENV=production. Checked on the real
// build, started exactly as Cloud Run starts it, with NODE_ENV unset.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFunctions } from '../../infra/build.ts';
import { generateKeysetJson } from '../../shared/crypto/keyset.ts';
import { freePort, stopChild } from '../support/emulators.ts';

const FRAMEWORK = path.resolve('node_modules/@google-cloud/functions-framework/build/src/main.js');
let outRoot: string;
let child: ChildProcess;
let url: string;
let output = '';

beforeAll(async () => {
  // Inside the checkout, so the bundle resolves functions-framework as it would when installed.
  await mkdir('.local', { recursive: true });
  outRoot = await mkdtemp(path.resolve('.local/deployed-'));
  await buildFunctions(outRoot, { codeCache: false });
  const port = await freePort();
  url = `http://127.0.0.1:${port}/`;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    TOKEN_KEYSET: generateKeysetJson(),
    GOOGLE_CLOUD_PROJECT: 'demo-deployed-errors',
    FIRESTORE_EMULATOR_HOST: process.env.FIRESTORE_EMULATOR_HOST ?? '127.0.0.1:1',
    OAUTH_CLIENT_ID: 'deployed.apps.googleusercontent.com',
    REDIRECT_URI: 'http://localhost:1/callback',
    AUTHORIZE_URL: 'http://localhost:1/authorize',
    REVOKE_URL: url,
  };
  child = spawn(
    process.execPath,
    [FRAMEWORK, '--target=revoke', `--source=${path.join(outRoot, 'revoke')}`, `--port=${port}`],
    {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  for (let attempt = 0; attempt < 300; attempt += 1) {
    try {
      await fetch(url, { method: 'OPTIONS' });
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error(`revoke did not start:\n${output}`);
});

afterAll(async () => {
  if (child) await stopChild(child);
  if (outRoot) await rm(outRoot, { recursive: true, force: true });
});

describe('the deployed revoke function, NODE_ENV unset', () => {
  const bodies: Array<[string, string, Record<string, string>]> = [
    ['malformed JSON', '{bad', { 'content-type': 'application/json' }],
    ['bad gzip', 'not gzip', { 'content-type': 'application/json', 'content-encoding': 'gzip' }],
    [
      'unknown charset',
      'a=b',
      { 'content-type': 'application/x-www-form-urlencoded; charset=klingon' },
    ],
  ];
  it.each(bodies)('%s gets a bare 4xx without a stack trace', async (_name, body, headers) => {
    const response = await fetch(url, { method: 'POST', headers, body });
    const text = await response.text();
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    expect(text).not.toMatch(/\bat .*\(|node_modules|SyntaxError|Error:/);
  });
});

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

describe('CLI (main.ts)', () => {
  it('prints its URL, serves, and exits cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, [
      MAIN,
      '--port',
      '0',
      '--client-id',
      'cli-client',
      '--client-secret',
      'cli-secret',
      '--redirect-uri',
      'http://localhost:3000/cb',
    ]);
    let out = '';
    child.stdout.setEncoding('utf8');
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (chunk: string) => {
        out += chunk;
        const line = out.split('\n')[0];
        if (out.includes('\n') && line) resolve(line);
      });
      child.once('exit', (code) => reject(new Error(`exited early with ${code}`)));
    });
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const doc = (await (await fetch(`${url}/.well-known/openid-configuration`)).json()) as Record<
      string,
      unknown
    >;
    expect(doc['token_endpoint']).toBe(`${url}/token`);
    const auth = await fetch(
      `${url}/o/oauth2/v2/auth?client_id=cli-client&redirect_uri=${encodeURIComponent('http://localhost:3000/cb')}&response_type=code&scope=openid&standin_decision=approve`,
      { redirect: 'manual' },
    );
    expect(auth.status).toBe(302);
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    expect(code).toBe(0);
  });

  it('refuses to start without a client', async () => {
    const child = spawn(process.execPath, [MAIN, '--port', '0']);
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(2);
  });
});

// The local stack's functions listen on 127.0.0.1 only (test/local/loopback-only.ts, preloaded
// into each function process): a server listening on a bare port, as functions-framework's does,
// is reachable from this machine and from no other interface.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');

function addressWith(preload: string[]): Promise<string> {
  const script =
    "const s=require('node:http').createServer();s.listen(0,()=>{console.log(s.address().address);s.close()})";
  return new Promise((resolve, reject) =>
    execFile(
      process.execPath,
      [...preload, '-e', script],
      { cwd: ROOT, encoding: 'utf8' },
      (error, stdout) => (error ? reject(new Error(error.message)) : resolve(stdout.trim())),
    ),
  );
}

describe('the local stack binds to loopback', () => {
  it('a bare listen(port) listens on 127.0.0.1 with the preload, on every interface without', async () => {
    expect(await addressWith(['--import', './test/local/loopback-only.ts'])).toBe('127.0.0.1');
    expect(['::', '0.0.0.0']).toContain(await addressWith([]));
  });
});

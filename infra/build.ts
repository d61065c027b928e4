// npm run build: one deployable folder per function, dist/<name>/ =
//   app.js           the esbuild bundle of functions/<name>.ts
//   app.js.v8cache   V8 code cache of app.js, made by a warm-up run at build time (optional)
//   index.js         a small loader: compiles app.js with that code cache, then runs it
//   package.json     naming only the externals (functions-framework, which the runtime must find
//                    by name to register the function: docs/google-behaviours.md#bundling), at the
//                    exact versions of the root package-lock.json
//   package-lock.json  the root lockfile's entries for the externals and all they depend on, so
//                    the deploy's `npm ci` installs the tree the tests ran (docs/security.md#supply-chain)
// Heavy Google clients imported with `import()` stay lazy in the bundle: evaluated only when a
// request needs them. Cold-start measurements: npm run bench:coldstart (test/bench/README.md).
import { build, type Metafile, type Plugin } from 'esbuild';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import Module from 'node:module';
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';
import { crc32 } from 'node:zlib';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const EXTERNALS = ['@google-cloud/functions-framework'];

export interface BuiltFunction {
  readonly name: string;
  readonly dir: string;
  /** Size of the bundle, app.js. */
  readonly bytes: number;
  /** Size of the V8 code cache shipped next to it; 0 when the warm-up could not make one. */
  readonly codeCacheBytes: number;
  /** npm packages that ended up in the bundle. */
  readonly packages: readonly string[];
}

export async function listFunctions(): Promise<string[]> {
  return (await readdir(path.join(root, 'functions')))
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.test.ts'))
    .map((file) => file.slice(0, -3))
    .sort();
}

export const BUNDLE_FILE = 'app.js';
export const CODE_CACHE_FILE = 'app.js.v8cache';

export async function buildFunctions(
  outRoot = path.join(root, 'dist'),
  options: { codeCache?: boolean } = {},
): Promise<BuiltFunction[]> {
  const lockfile = JSON.parse(
    await readFile(path.join(root, 'package-lock.json'), 'utf8'),
  ) as Lockfile;
  const jobs = await jobsPlugin();
  const built: BuiltFunction[] = [];
  for (const name of await listFunctions()) {
    const dir = path.join(outRoot, name);
    const previous = await previousBuild(dir);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    const result = await bundle(
      path.join(root, 'functions', `${name}.ts`),
      path.join(dir, BUNDLE_FILE),
      jobs,
    );
    const bundleCrc32 = crc32(await readFile(path.join(dir, BUNDLE_FILE)));
    await writeFile(path.join(dir, 'index.js'), loaderSource('serve', bundleCrc32));
    const deployed = deployedLockfile(lockfile, `consent-vault-${name}`, EXTERNALS);
    const { dependencies } = deployed.packages['']!;
    await writeFile(
      path.join(dir, 'package.json'),
      `${JSON.stringify({ name: `consent-vault-${name}`, private: true, main: 'index.js', engines: { node: '>=24' }, dependencies }, null, 2)}\n`,
    );
    await writeFile(path.join(dir, 'package-lock.json'), `${JSON.stringify(deployed, null, 2)}\n`);
    const output = Object.values(result.metafile.outputs)[0];
    built.push({
      name,
      dir,
      bytes: output?.bytes ?? 0,
      codeCacheBytes:
        options.codeCache === false
          ? 0
          : ((await reuseCodeCache(dir, previous)) ?? (await makeCodeCache(name, dir))),
      packages: bundledPackages(result.metafile),
    });
  }
  return built;
}

/**
 * One entry point bundled as the deploy bundles a function; the run benchmark bundles its
 * instrumented functions with it, so that a measured instance starts as a deployed one does.
 */
export async function bundle(
  entry: string,
  outfile: string,
  jobs: Plugin,
): Promise<{ metafile: Metafile }> {
  return build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    minify: true,
    // Minified class names break Firestore's REST transport on integer fields.
    keepNames: true,
    sourcemap: false,
    legalComments: 'none',
    external: EXTERNALS,
    metafile: true,
    logLevel: 'warning',
    plugins: [lazyFirestoreApi, jobs],
  });
}

/** What infra/build.ts reads of an npm lockfile (v3: https://docs.npmjs.com/cli/configuring-npm/package-lock-json). */
export interface Lockfile {
  readonly name: string;
  readonly lockfileVersion: number;
  readonly requires?: boolean;
  readonly packages: Readonly<Record<string, LockEntry>>;
}

export interface LockEntry {
  readonly name?: string;
  readonly version?: string;
  readonly integrity?: string;
  readonly dependencies?: Readonly<Record<string, string>>;
  readonly optionalDependencies?: Readonly<Record<string, string>>;
  readonly peerDependencies?: Readonly<Record<string, string>>;
  readonly peerDependenciesMeta?: Readonly<Record<string, { optional?: boolean }>>;
  readonly [field: string]: unknown;
}

/**
 * The lockfile of a deployed folder that depends on `externals` only: the root lockfile's entries
 * for them and everything they need, copied at the same paths (so each resolves to the same copy
 * as in the tests), its root naming their exact versions. npm ci refuses a lockfile that does not
 * satisfy package.json, and the Node.js buildpack runs npm ci when it finds one
 * (https://cloud.google.com/run/docs/runtimes/nodejs-dependencies).
 */
export function deployedLockfile(
  rootLock: Lockfile,
  name: string,
  externals: readonly string[],
): Lockfile {
  const packages: Record<string, LockEntry> = {};
  const visit = (from: string, dep: string, optional: boolean): string | undefined => {
    const at = resolveInLockfile(rootLock.packages, from, dep);
    if (at === undefined) {
      if (optional) return undefined;
      throw new Error(`package-lock.json has no ${dep} for ${from || name}: run npm install`);
    }
    if (packages[at]) return at;
    // Flags relative to the root project (dev, devOptional) do not hold in a folder that deploys.
    const entry: LockEntry = Object.fromEntries(
      Object.entries(rootLock.packages[at]!).filter(([field]) => !field.startsWith('dev')),
    );
    packages[at] = entry;
    for (const child of Object.keys(entry.dependencies ?? {})) visit(at, child, false);
    for (const child of Object.keys(entry.optionalDependencies ?? {})) visit(at, child, true);
    for (const peer of Object.keys(entry.peerDependencies ?? {}))
      visit(at, peer, entry.peerDependenciesMeta?.[peer]?.optional === true);
    return at;
  };
  const dependencies: Record<string, string> = {};
  for (const dep of externals) {
    const at = visit('', dep, false)!;
    const version = rootLock.packages[at]!.version;
    if (version === undefined) throw new Error(`package-lock.json: ${at} has no version`);
    dependencies[dep] = version;
  }
  const sorted = Object.fromEntries(Object.entries(packages).sort(([a], [b]) => (a < b ? -1 : 1)));
  return {
    name,
    lockfileVersion: 3,
    requires: true,
    packages: { '': { name, engines: { node: '>=24' }, dependencies }, ...sorted },
  };
}

/**
 * Where Node finds `dep` from the package installed at `from` ('' for the root): its own
 * node_modules, then each enclosing package's, then the root's
 * (https://nodejs.org/api/modules.html#loading-from-node_modules-folders).
 */
function resolveInLockfile(
  packages: Readonly<Record<string, LockEntry>>,
  from: string,
  dep: string,
): string | undefined {
  let dir = from;
  while (true) {
    const candidate = dir === '' ? `node_modules/${dep}` : `${dir}/node_modules/${dep}`;
    if (packages[candidate] !== undefined) return candidate;
    if (dir === '') return undefined;
    const parent = dir.lastIndexOf('/node_modules/');
    dir = parent === -1 ? '' : dir.slice(0, parent);
  }
}

/**
 * The jobs of this build, discovered once (shared/jobs/job-files.ts: the built-ins and the app's
 * `jobs/` folder) and compiled in: the job-files module becomes static imports of the files found
 * (only the runners import it), and the manifest module becomes a literal, so authorize and
 * callback know every job's name, scopes and settings without loading any job's code.
 */
export async function jobsPlugin(): Promise<Plugin> {
  const { loadJobFiles, jobFiles } = await import('../shared/jobs/job-files.ts');
  const { manifestOf } = await import('../shared/jobs/manifest.ts');
  const files = jobFiles();
  const manifest = manifestOf(await loadJobFiles(files));
  const jobsDir = path.join(root, 'shared', 'jobs');
  const imports = files.map(
    (file, index) => `import job${index} from ${JSON.stringify(file.file)};`,
  );
  const loaded = files.map(
    (file, index) => `{ definition: job${index}, source: ${JSON.stringify(file.source)} }`,
  );
  return {
    name: 'consent-vault-jobs',
    setup(pluginBuild) {
      pluginBuild.onLoad({ filter: /[\\/]shared[\\/]jobs[\\/]manifest\.ts$/ }, () => ({
        loader: 'js',
        resolveDir: jobsDir,
        contents: `const MANIFEST = ${JSON.stringify(manifest)};\nexport function jobManifest() { return MANIFEST; }\n`,
      }));
      pluginBuild.onLoad({ filter: /[\\/]shared[\\/]jobs[\\/]job-files\.ts$/ }, () => ({
        loader: 'js',
        resolveDir: jobsDir,
        contents: [
          ...imports,
          `const LOADED = [${loaded.join(', ')}];`,
          'export async function loadJobFiles() { return LOADED; }',
          'export function loadJobFilesSync() { return LOADED; }',
          '',
        ].join('\n'),
      }));
    },
  };
}

/**
 * @google-cloud/firestore's index.js requires the root of @google-cloud/firestore-api at load
 * time only to re-export `protos` (and for two deprecated getters); that root evaluates
 * protos.js, 1 MB of generated protobuf classes that the REST transport never uses (it reads
 * protos.json). Behind this lazy proxy the package is evaluated on first property access, so the
 * same objects are returned, just not paid for at every cold start. Nothing else changes.
 */
const lazyFirestoreApi: Plugin = {
  name: 'lazy-firestore-api-root',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /^@google-cloud\/firestore-api$/ }, async (args) => {
      if (args.pluginData === 'real' || !/@google-cloud\/firestore\//.test(args.importer))
        return undefined;
      const real = await pluginBuild.resolve(args.path, {
        kind: args.kind,
        resolveDir: args.resolveDir,
        pluginData: 'real',
      });
      if (real.errors.length > 0) return { errors: real.errors };
      return { path: real.path, namespace: 'lazy-firestore-api' };
    });
    pluginBuild.onLoad({ filter: /.*/, namespace: 'lazy-firestore-api' }, (args) => ({
      resolveDir: path.dirname(args.path),
      loader: 'js',
      contents: `let api;
const load = () => (api ??= require(${JSON.stringify(args.path)}));
module.exports = new Proxy({}, {
  get: (_, key) => load()[key],
  has: (_, key) => key in load(),
  ownKeys: () => Reflect.ownKeys(load()),
  getOwnPropertyDescriptor: (_, key) => {
    const descriptor = Reflect.getOwnPropertyDescriptor(load(), key);
    return descriptor && { ...descriptor, configurable: true };
  },
});
`,
    }));
  },
};

/**
 * The deployed index.js. Node compiles a 4 MB bundle on every cold start, before any of it runs,
 * and compiles each function again the first time it runs. V8 can skip both with a code cache
 * taken after a warm-up run: it holds the bytecode of everything that ran while the module
 * loaded. Node's own module.enableCompileCache() cannot do this for a one-file bundle: it
 * must be enabled before the file is compiled, and it stores only the eagerly compiled top level.
 *
 * Safe by construction: the loader uses the cache only for the exact bundle it was made from
 * (CRC-32 of app.js, written into the loader at build time: V8 itself compares only the source
 * length), and V8 rejects a cache made by another V8 version or with other flags
 * (`cachedDataRejected`). In every such case, and when the file is missing, the bundle is simply
 * compiled as before. The cache is only ever read here; only the build's warm-up writes it.
 */
function loaderSource(mode: 'serve' | 'warm-up', bundleCrc32: number): string {
  return `'use strict';
// Generated by infra/build.ts: loads ${BUNDLE_FILE} with the V8 code cache ${CODE_CACHE_FILE}.
const { readFileSync${mode === 'warm-up' ? ', writeFileSync' : ''} } = require('node:fs');
const Module = require('node:module');
const path = require('node:path');
const vm = require('node:vm');
const { crc32 } = require('node:zlib');

const filename = path.join(__dirname, ${JSON.stringify(BUNDLE_FILE)});
const bundle = readFileSync(filename);
let cachedData;
${
  mode === 'serve'
    ? `// V8 compares only the source length; the checksum makes sure the cache belongs to this bundle.
if (typeof crc32 === 'function' && crc32(bundle) === ${bundleCrc32}) {
  try {
    cachedData = readFileSync(path.join(__dirname, ${JSON.stringify(CODE_CACHE_FILE)}));
  } catch {
    cachedData = undefined;
  }
}`
    : ''
}
const script = new vm.Script(Module.wrap(bundle.toString('utf8')), {
  filename,
  cachedData,
  importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
});
const app = new Module(filename, module);
app.filename = filename;
app.paths = module.paths;
script
  .runInThisContext()
  .call(app.exports, app.exports, Module.createRequire(filename), app, filename, __dirname);
app.loaded = true;
module.exports = app.exports;
${
  mode === 'warm-up'
    ? `// Let start-up work queued by the module (key checks, and the lazily loaded clients exercised
// under CODE_CACHE_WARM_UP: shared/platform/runtime.ts) finish, then keep what V8 compiled.
Promise.resolve(globalThis.codeCacheWarmUp).finally(() => setTimeout(() => {
  writeFileSync(path.join(__dirname, ${JSON.stringify(CODE_CACHE_FILE)}), script.createCachedData());
  process.exit(0);
}, 200));
`
    : ''
}`;
}

/**
 * Settings that pass config validation, for the warm-up only: the module runs its start-up code
 * (config, key checks) but never serves a request, so nothing here is contacted.
 */
function warmUpEnvironment(): Record<string, string> {
  const placeholder = 'https://warm-up.invalid';
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    NODE_ENV: 'production',
    // The deployed folder gets functions-framework from npm; the warm-up borrows ours.
    NODE_PATH: path.join(root, 'node_modules'),
    GOOGLE_CLOUD_PROJECT: 'demo-warm-up',
    OAUTH_CLIENT_ID: 'warm-up.apps.googleusercontent.com',
    OAUTH_CLIENT_SECRET: 'warm-up',
    TOKEN_KEYSET: JSON.stringify({
      primary: 'k1',
      keys: { k1: randomBytes(32).toString('base64') },
    }),
    REDIRECT_URI: `${placeholder}/callback`,
    AUTHORIZE_URL: `${placeholder}/authorize`,
    REVOKE_URL: `${placeholder}/revoke`,
    LOG_LEVEL: 'ERROR',
    // Exercise the lazily loaded clients too (shared/platform/code-cache-warm-up.ts); every endpoint is
    // 127.0.0.1:1, which refuses connections.
    CODE_CACHE_WARM_UP: '1',
    FIRESTORE_EMULATOR_HOST: '127.0.0.1:1',
    PUBSUB_EMULATOR_HOST: '127.0.0.1:1',
    ...Object.fromEntries(
      ['AUTH', 'TOKEN', 'REVOKE', 'TOKENINFO', 'CERTS_PEM', 'CERTS_JWKS', 'API_ROOT'].map(
        (name) => [
          `GOOGLE_${name}_URL`.replace('API_ROOT_URL', 'API_ROOT'),
          `http://127.0.0.1:1/${name.toLowerCase()}`,
        ],
      ),
    ),
    METADATA_SERVER_DETECTION: 'none',
  };
}

/**
 * Runs the bundle once in a separate Node (the same Node that builds; Cloud Run's nodejs24 must
 * match it for the cache to be used) and writes the code cache. Returns its size, or 0 with a
 * warning when the warm-up fails: the function then simply starts without a cache.
 */
interface PreviousBuild {
  readonly bundle: Buffer;
  readonly codeCache: Buffer;
}

async function previousBuild(dir: string): Promise<PreviousBuild | undefined> {
  try {
    return {
      bundle: await readFile(path.join(dir, BUNDLE_FILE)),
      codeCache: await readFile(path.join(dir, CODE_CACHE_FILE)),
    };
  } catch {
    return undefined;
  }
}

/**
 * V8 code caches are not byte-for-byte reproducible, and the deploy skips a function whose folder
 * hash is unchanged. So an unchanged bundle keeps its previous cache, provided this Node's V8
 * still accepts it. Returns its size, or undefined when a new one must be made.
 */
async function reuseCodeCache(
  dir: string,
  previous: PreviousBuild | undefined,
): Promise<number | undefined> {
  if (!previous) return undefined;
  const bundle = await readFile(path.join(dir, BUNDLE_FILE));
  if (!bundle.equals(previous.bundle)) return undefined;
  const probe = new Script(Module.wrap(bundle.toString('utf8')), {
    filename: path.join(dir, BUNDLE_FILE),
    cachedData: previous.codeCache,
  });
  if (probe.cachedDataRejected !== false) return undefined;
  await writeFile(path.join(dir, CODE_CACHE_FILE), previous.codeCache);
  return previous.codeCache.length;
}

async function makeCodeCache(name: string, dir: string): Promise<number> {
  const warmUp = path.join(dir, 'warm-up.cjs');
  await writeFile(warmUp, loaderSource('warm-up', 0));
  try {
    await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, [warmUp], {
        cwd: dir,
        env: warmUpEnvironment(),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let text = '';
      child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
      child.on('error', reject);
      child.on('exit', (code) =>
        code === 0 ? resolve(text) : reject(new Error(`exit ${code}: ${text.slice(-1000)}`)),
      );
    });
    return (await stat(path.join(dir, CODE_CACHE_FILE))).size;
  } catch (error) {
    console.warn(`${name}: no V8 code cache (warm-up failed): ${String(error)}`);
    await rm(path.join(dir, CODE_CACHE_FILE), { force: true });
    return 0;
  } finally {
    await rm(warmUp, { force: true });
  }
}

function bundledPackages(metafile: Metafile): string[] {
  const packages = new Set<string>();
  for (const input of Object.keys(metafile.inputs)) {
    const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
    if (match?.[1]) packages.add(match[1]);
  }
  return [...packages].sort();
}

if (import.meta.main) {
  const built = await buildFunctions();
  for (const fn of built)
    console.log(
      `${fn.name.padEnd(12)} ${(fn.bytes / 1024).toFixed(0).padStart(6)} KiB  + code cache ${(fn.codeCacheBytes / 1024).toFixed(0).padStart(5)} KiB  dist/${fn.name}/`,
    );
}

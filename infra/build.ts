// npm run build: one deployable folder per function, dist/<name>/ = index.js (an esbuild bundle)
// + package.json naming only the externals (functions-framework, which the runtime must find by
// name to register the function; platform-facts.md). Heavy Google clients imported with
// `import()` stay lazy in the bundle: evaluated only when a request needs them.
import { build, type Metafile } from 'esbuild';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const EXTERNALS = ['@google-cloud/functions-framework'];

export interface BuiltFunction {
  readonly name: string;
  readonly dir: string;
  readonly bytes: number;
  /** npm packages that ended up in the bundle. */
  readonly packages: readonly string[];
}

export async function listFunctions(): Promise<string[]> {
  return (await readdir(path.join(root, 'functions')))
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.test.ts'))
    .map((file) => file.slice(0, -3))
    .sort();
}

export async function buildFunctions(outRoot = path.join(root, 'dist')): Promise<BuiltFunction[]> {
  const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  const built: BuiltFunction[] = [];
  for (const name of await listFunctions()) {
    const dir = path.join(outRoot, name);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    const result = await build({
      entryPoints: [path.join(root, 'functions', `${name}.ts`)],
      outfile: path.join(dir, 'index.js'),
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
    });
    const dependencies = Object.fromEntries(EXTERNALS.map((dep) => [dep, pkg.dependencies[dep]]));
    await writeFile(
      path.join(dir, 'package.json'),
      `${JSON.stringify({ name: `consent-vault-${name}`, private: true, main: 'index.js', engines: { node: '>=24' }, dependencies }, null, 2)}\n`,
    );
    const output = Object.values(result.metafile.outputs)[0];
    built.push({
      name,
      dir,
      bytes: output?.bytes ?? 0,
      packages: bundledPackages(result.metafile),
    });
  }
  return built;
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
      `${fn.name.padEnd(12)} ${(fn.bytes / 1024).toFixed(0).padStart(6)} KiB  dist/${fn.name}/`,
    );
}

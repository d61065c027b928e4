// npm run bench:coldstart [-- --runs N] [--warmup N] [--node-option=--flag …] [--dist DIR]
//
// Cold start of each deployed HTTP function, spawn → first full response, next to an empty
// functions-framework function measured in the same run (the floor any function pays).
// Builds dist/ first (or measures an existing build: --dist DIR, for before/after comparisons), then starts one Firestore emulator and one Google stand-in (in-process).
// Runs are interleaved (empty, authorize, callback, revoke, repeat) so that machine noise spreads
// over all of them; one warm-up round (disk cache, emulator JIT) is not counted.
// Targets (issue): authorize ≤ 1.15x empty; callback and revoke, first Firestore call
// included, ≤ 2.2x. A benchmark, not a test: it always exits 0 and says which targets are met.
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildFunctions, BUNDLE_FILE, CODE_CACHE_FILE } from '../../infra/build.ts';
import { startEmulator, type Emulator } from '../support/emulators.ts';
import { createEmptyFunction, startBenchWorld, type BenchWorld } from './scenarios.ts';
import { measureColdStart, type SpawnSpec } from './spawn-timing.ts';
import { formatTable, summarise } from './stats.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const MEASURED = ['authorize', 'callback', 'revoke'] as const;
type Measured = (typeof MEASURED)[number];
const TARGETS: Record<Measured, number> = { authorize: 1.15, callback: 2.2, revoke: 2.2 };
const MIN_RUNS = 7;

const { values: options } = parseArgs({
  options: {
    runs: { type: 'string', default: '9' },
    warmup: { type: 'string', default: '1' },
    'node-option': { type: 'string', multiple: true, default: [] },
    dist: { type: 'string' },
  },
});
const runs = Math.max(MIN_RUNS, Number.parseInt(options.runs, 10) || 0);
const warmup = Math.max(0, Number.parseInt(options.warmup, 10) || 0);
if (Number(options.runs) < MIN_RUNS)
  console.log(`--runs ${options.runs} is below the minimum; using ${MIN_RUNS}.`);

/** What Cloud Run gives a function process: its settings and a bare environment. */
function processEnv(settings: Record<string, string>): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    NODE_ENV: 'production',
    ...settings,
  };
}

interface Sizes {
  readonly name: string;
  readonly bytes: number;
  readonly codeCacheBytes: number;
}

async function size(file: string): Promise<number> {
  return stat(file).then(
    (info) => info.size,
    () => 0,
  );
}

/** Sizes of an existing build (older layouts have the bundle in index.js and no cache). */
async function existingBuild(dist: string): Promise<Sizes[]> {
  const names = (await readdir(dist, { withFileTypes: true }))
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name);
  return Promise.all(
    names.map(async (name) => ({
      name,
      bytes:
        (await size(path.join(dist, name, BUNDLE_FILE))) ||
        (await size(path.join(dist, name, 'index.js'))),
      codeCacheBytes: await size(path.join(dist, name, CODE_CACHE_FILE)),
    })),
  );
}

async function main(): Promise<void> {
  const dist = path.resolve(options.dist ?? path.join(root, 'dist'));
  let built: Sizes[];
  if (options.dist === undefined) {
    console.log('building dist/ …');
    built = await buildFunctions();
  } else {
    console.log(`measuring the existing build in ${dist} (not rebuilt)`);
    built = await existingBuild(dist);
  }
  const bundles = new Map(built.map((fn) => [fn.name, fn]));
  for (const name of MEASURED)
    if (!bundles.has(name)) throw new Error(`the build has no ${name} function`);

  let firestore: Emulator | undefined;
  let pubsub: Emulator | undefined;
  let world: BenchWorld | undefined;
  const empty = await createEmptyFunction(root);
  try {
    console.log('starting the Firestore and Pub/Sub emulators and the Google stand-in …');
    [firestore, pubsub] = await Promise.all([startEmulator('firestore'), startEmulator('pubsub')]);
    world = await startBenchWorld(firestore.hostPort, pubsub.hostPort);
    const bench = world;

    const specFor = async (name: 'empty' | Measured): Promise<SpawnSpec> => {
      const nodeOptions = options['node-option'];
      if (name === 'empty')
        return {
          target: 'empty',
          source: empty.dir,
          env: processEnv({}),
          request: { path: '/' },
          nodeOptions,
          cwd: root,
        };
      return {
        target: name,
        source: path.relative(root, path.join(dist, name)) || '.',
        env: processEnv(bench.env),
        request: await bench.scenarios[name].request(),
        nodeOptions,
        cwd: root,
      };
    };

    const order = ['empty', ...MEASURED] as const;
    const samples = new Map<string, number[]>(order.map((name) => [name, []]));
    console.log(
      `measuring: ${warmup} warm-up round${warmup === 1 ? '' : 's'} + ${runs} rounds of ${order.join(', ')}`,
    );
    for (let round = -warmup; round < runs; round += 1) {
      const line: string[] = [];
      for (const name of order) {
        const result = await measureColdStart(await specFor(name));
        if (name !== 'empty') bench.scenarios[name].check(result.answer);
        else if (result.answer.body !== 'ok') throw new Error('the empty function did not say ok');
        if (round >= 0) samples.get(name)?.push(result.ms);
        line.push(`${name} ${result.ms.toFixed(0)}`);
      }
      console.log(`  ${round < 0 ? 'warm-up' : `round ${round + 1}`}: ${line.join(', ')} ms`);
    }

    const emptyStats = summarise(samples.get('empty') ?? []);
    const rows: string[][] = [
      [
        'function',
        'median ms',
        'p25',
        'p75',
        'min',
        'max',
        'ratio',
        'target',
        'result',
        'bundle KiB',
        'code cache KiB',
      ],
    ];
    const verdicts: string[] = [];
    for (const name of order) {
      const stats = summarise(samples.get(name) ?? []);
      const ratio = stats.median / emptyStats.median;
      const target = name === 'empty' ? undefined : TARGETS[name];
      const met = target === undefined ? undefined : ratio <= target;
      const bundle = name === 'empty' ? undefined : bundles.get(name);
      rows.push([
        name,
        stats.median.toFixed(0),
        stats.p25.toFixed(0),
        stats.p75.toFixed(0),
        stats.min.toFixed(0),
        stats.max.toFixed(0),
        `${ratio.toFixed(2)}x`,
        target === undefined ? '-' : `≤ ${target.toFixed(2)}x`,
        met === undefined ? '-' : met ? 'PASS' : 'FAIL',
        bundle ? (bundle.bytes / 1024).toFixed(0) : '-',
        bundle ? (bundle.codeCacheBytes / 1024).toFixed(0) : '-',
      ]);
      if (target !== undefined)
        verdicts.push(
          `${name}: ${ratio.toFixed(2)}x the empty function (target ≤ ${target}x): ${met ? 'target met' : 'TARGET MISSED'}`,
        );
    }
    console.log(
      `\ncold start, spawn → first full response, median of ${runs} runs (node ${process.version}):\n`,
    );
    console.log(formatTable(rows));
    console.log('');
    for (const verdict of verdicts) console.log(verdict);
    const starts = (warmup + runs) * 2;
    console.log(
      `\nCloud KMS calls: ${bench.kmsCalls()} over ${starts} cold starts of callback and revoke (each unwraps the token keyset once; authorize holds no token key)`,
    );
    const others = built.filter((fn) => !(MEASURED as readonly string[]).includes(fn.name));
    if (others.length > 0)
      console.log(
        `\nnot measured (not HTTP consent functions): ${others
          .map((fn) => `${fn.name} ${(fn.bytes / 1024).toFixed(0)} KiB`)
          .join(', ')}`,
      );
  } finally {
    await world?.close();
    await Promise.all([firestore?.stop(), pubsub?.stop()]);
    await empty.remove();
  }
}

try {
  await main();
} catch (error) {
  console.error('benchmark failed:', error);
  process.exitCode = 1;
}

// npm test: starts the real Firestore and Pub/Sub emulators, runs the suite against them, then
// scans all captured log output for leaked secrets, and stops everything it started.
// Extra arguments go to vitest (e.g. `npm test -- test/flows`).
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startEmulator, type Emulator } from './emulators.ts';

const vitest = path.resolve('node_modules/vitest/vitest.mjs');

function run(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [vitest, ...args], { stdio: 'inherit', env });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

const emulators: Emulator[] = [];
const stop = async () => {
  await Promise.all(emulators.map((emulator) => emulator.stop()));
};
process.on('SIGINT', () => void stop().then(() => process.exit(130)));
process.on('SIGTERM', () => void stop().then(() => process.exit(143)));

let code: number;
const captureDir = await mkdtemp(path.join(tmpdir(), 'cv-capture-'));
try {
  const [firestore, pubsub] = await Promise.all([
    startEmulator('firestore'),
    startEmulator('pubsub'),
  ]);
  emulators.push(firestore, pubsub);
  console.log(`emulators: firestore ${firestore.hostPort}, pubsub ${pubsub.hostPort}`);
  const env = {
    ...process.env,
    FIRESTORE_EMULATOR_HOST: firestore.hostPort,
    PUBSUB_EMULATOR_HOST: pubsub.hostPort,
    CV_CAPTURE_DIR: captureDir,
  };
  const filters = process.argv.slice(2);
  const reports = [path.join(captureDir, 'suite.json'), path.join(captureDir, 'leaks.json')];
  const reporters = (file: string) => [
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${file}`,
  ];
  code = await run(
    ['run', '--config', 'test/vitest.config.ts', ...reporters(reports[0]!), ...filters],
    env,
  );
  if (code === 0 && filters.length === 0) {
    console.log('\nscanning all captured log output for issued secrets…');
    code = await run(
      ['run', '--config', 'test/vitest.leaks.config.ts', ...reporters(reports[1]!)],
      env,
    );
  }
  // One plain closing line over both passes, for CI logs.
  let passed = 0;
  let failed = 0;
  for (const file of reports) {
    const summary = await readFile(file, 'utf8').then(
      (text) => JSON.parse(text) as { numPassedTests: number; numFailedTests: number },
      () => undefined,
    );
    passed += summary?.numPassedTests ?? 0;
    failed += summary?.numFailedTests ?? 0;
  }
  console.log(`\ntests: ${passed} passed, ${failed} failed`);
} finally {
  await stop();
  await rm(captureDir, { recursive: true, force: true });
}
process.exit(code);

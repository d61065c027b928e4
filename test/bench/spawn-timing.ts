// One cold start, timed the way an instance start is felt by its first user: spawn the real
// functions-framework entry point (as the nodejs24 runtime does), then send the measuring request
// in a tight loop (~5 ms apart while the port refuses connections) until the first full answer.
// Time = spawn → last byte of that answer. The process is stopped after each measurement.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, stopChild } from '../support/emulators.ts';
import { rawRequest, type RawAnswer, type RawRequest } from '../support/raw-http.ts';

const require = createRequire(import.meta.url);

/**
 * functions-framework's `main.js` (its `bin`), resolved from the project's node_modules: it sits
 * next to the package entry point, build/src/index.js (package.json is not in its exports).
 */
export function functionsFrameworkMain(): string {
  const main = path.join(
    path.dirname(require.resolve('@google-cloud/functions-framework')),
    'main.js',
  );
  if (!existsSync(main)) throw new Error(`functions-framework has no ${main}`);
  return main;
}

export interface ColdStart {
  readonly ms: number;
  readonly answer: RawAnswer;
  /** Connection attempts refused before the server listened. */
  readonly refused: number;
}

export interface SpawnSpec {
  /** --target */
  readonly target: string;
  /** --source: the deployable folder (package.json + index.js). */
  readonly source: string;
  readonly env: Readonly<Record<string, string>>;
  readonly request: RawRequest;
  /** Extra node options placed before main.js (e.g. `--cpu-prof`). */
  readonly nodeOptions?: readonly string[];
  readonly cwd?: string;
  readonly timeoutMs?: number;
}

const RETRY_MS = 5;

function isRefused(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ECONNREFUSED';
}

export async function measureColdStart(spec: SpawnSpec): Promise<ColdStart> {
  const port = await freePort();
  const args = [
    ...(spec.nodeOptions ?? []),
    functionsFrameworkMain(),
    `--target=${spec.target}`,
    `--source=${spec.source}`,
    `--port=${port}`,
  ];
  let output = '';
  const started = performance.now();
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: spec.cwd,
    env: spec.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-8000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let exited: string | undefined;
  child.once('exit', (code, signal) => (exited = `exited (${code ?? signal}) before answering`));
  child.once('error', (error) => (exited = `could not start: ${error.message}`));

  const deadline = started + (spec.timeoutMs ?? 30_000);
  let refused = 0;
  try {
    for (;;) {
      if (exited !== undefined) throw new Error(`${spec.target} ${exited}\n${output}`);
      if (performance.now() > deadline)
        throw new Error(
          `${spec.target} did not answer within ${spec.timeoutMs ?? 30_000} ms\n${output}`,
        );
      let answer: RawAnswer;
      try {
        answer = await rawRequest({ host: '127.0.0.1', port }, spec.request);
      } catch (error) {
        if (!isRefused(error)) throw error;
        refused += 1;
        await sleep(RETRY_MS);
        continue;
      }
      const ms = performance.now() - started;
      if (answer.status >= 500) {
        // Not a successful answer: keep polling (a misconfigured run ends at the deadline).
        await sleep(RETRY_MS);
        continue;
      }
      return { ms, answer, refused };
    }
  } catch (error) {
    if (error instanceof Error && output !== '' && !error.message.includes(output))
      error.message += `\n--- ${spec.target} output ---\n${output}`;
    throw error;
  } finally {
    await stopChild(child, 2000);
  }
}

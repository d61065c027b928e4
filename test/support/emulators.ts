// Starts and stops the real Firestore and Pub/Sub emulators (gcloud), for the test command,
// `npm start`, the demo and the benchmarks. Each gets a free port; readiness is the line each
// emulator prints when it accepts connections (docs/google-behaviours.md#local-emulators).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

export interface Emulator {
  readonly name: 'firestore' | 'pubsub';
  /** host:port, for FIRESTORE_EMULATOR_HOST / PUBSUB_EMULATOR_HOST. */
  readonly hostPort: string;
  stop(): Promise<void>;
}

const SPECS = {
  firestore: {
    args: (hostPort: string) => ['emulators', 'firestore', 'start', `--host-port=${hostPort}`],
    ready: /Dev App Server is now running/,
    component: 'cloud-firestore-emulator',
    apt: 'google-cloud-cli-firestore-emulator',
  },
  pubsub: {
    args: (hostPort: string) => ['beta', 'emulators', 'pubsub', 'start', `--host-port=${hostPort}`],
    ready: /Server started, listening on/,
    component: 'pubsub-emulator',
    apt: 'google-cloud-cli-pubsub-emulator',
  },
} as const;

/**
 * JVM flags for the emulators: C1 only (no C2 JIT) and the serial collector. They are local
 * stand-ins for remote services, yet on a 2-core machine they share the CPU with the code under
 * test, and C2 compiling the Firestore emulator's hot paths took most of its CPU, with its answers
 * no faster (docs/testing.md#emulators). EMULATOR_JAVA_OPTIONS replaces them ("" for the JVM's
 * defaults).
 */
export const EMULATOR_JAVA_OPTIONS =
  process.env.EMULATOR_JAVA_OPTIONS ?? '-XX:TieredStopAtLevel=1 -XX:+UseSerialGC';

function emulatorEnv(): NodeJS.ProcessEnv {
  const own = process.env.JAVA_TOOL_OPTIONS;
  const options = [own, EMULATOR_JAVA_OPTIONS].filter((part) => part !== undefined && part !== '');
  return options.length === 0
    ? process.env
    : { ...process.env, JAVA_TOOL_OPTIONS: options.join(' ') };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function installHint(name: keyof typeof SPECS): string {
  const spec = SPECS[name];
  return (
    `The ${name} emulator could not start. Install it with\n` +
    `  gcloud components install ${spec.component}\n` +
    `or, where gcloud came from apt:\n  apt-get install -y ${spec.apt}\n` +
    `(it needs Java 17+ on PATH).`
  );
}

export async function startEmulator(
  name: keyof typeof SPECS,
  options: { port?: number; timeoutMs?: number; projectId?: string } = {},
): Promise<Emulator> {
  if (spawnSync('gcloud', ['--version'], { stdio: 'ignore' }).error) {
    throw new Error(`gcloud is not on PATH.\n${installHint(name)}`);
  }
  const port = options.port ?? (await freePort());
  const hostPort = `127.0.0.1:${port}`;
  const spec = SPECS[name];
  const args = [...spec.args(hostPort)];
  if (options.projectId) args.push(`--project=${options.projectId}`);
  // detached: the emulator's Java child joins our process group, so one kill reaches both.
  const child = spawn('gcloud', args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    env: emulatorEnv(),
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      kill(child);
      reject(
        new Error(
          `${name} emulator not ready after ${options.timeoutMs ?? 60000} ms.\n${output.slice(-2000)}\n${installHint(name)}`,
        ),
      );
    }, options.timeoutMs ?? 60000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (spec.ready.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(
        new Error(
          `${name} emulator exited (${code}).\n${output.slice(-2000)}\n${installHint(name)}`,
        ),
      );
    });
  });
  // Keep draining output so the pipes never fill up and block the emulator.
  child.stdout.removeAllListeners('data');
  child.stderr.removeAllListeners('data');
  child.removeAllListeners('exit');
  child.stdout.resume();
  child.stderr.resume();
  return {
    name,
    hostPort,
    stop: () => stopChild(child),
  };
}

function kill(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): void {
  if (child.pid === undefined || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}

export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  kill(child, 'SIGTERM');
  const timer = setTimeout(() => kill(child, 'SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

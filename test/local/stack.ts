// The local stack behind `npm start`, the demo and the benchmarks: the real Firestore (and
// Pub/Sub) emulators, the Google stand-in, every built function as its own functions-framework
// process started exactly as Cloud Run starts it (dist/<name>, --target=<name>), and a small start
// page. stop() ends every child it started.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { generateKeysetJson } from '../../shared/crypto/keyset.ts';
import { startPage } from '../../shared/web/pages.ts';
import { configuredJobs } from '../../shared/oauth/authorization.ts';
import { buildFunctions } from '../../infra/build.ts';
import { RISC_AUDIENCE, riscApi } from '../../infra/ops/risc-stream.ts';
import { loadConfig } from '../../shared/settings/config.ts';
import { startGoogleStandIn, type GoogleStandIn } from '../standin/index.ts';
import { wirePushSubscriptions, type PubSubWiring } from '../support/pubsub-wiring.ts';
import { freePort, startEmulator, stopChild, type Emulator } from '../support/emulators.ts';
import { googleEndpointSettings } from '../support/google-settings.ts';

// Nothing here runs on Google Cloud: skip the metadata-server probe Google's clients make (it
// fails on this closed network and prints a warning).
process.env.METADATA_SERVER_DETECTION ??= 'none';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const FRAMEWORK = path.join(
  ROOT,
  'node_modules/@google-cloud/functions-framework/build/src/main.js',
);
/** Makes each function listen on 127.0.0.1 only (./loopback-only.ts). */
const LOOPBACK_ONLY = path.join(ROOT, 'test/local/loopback-only.ts');
export const LOCAL_CLIENT_ID = 'consent-vault-local.apps.googleusercontent.com';
export const LOCAL_PROJECT = 'demo-consent-vault';
export const LOCAL_SERVICE_CALLER = 'app-backend@demo-consent-vault.iam.gserviceaccount.com';

export interface StackOptions {
  /** Fixed ports (npm start); 0 or absent picks free ones. */
  readonly ports?: Partial<
    Record<
      'start' | 'standIn' | 'authorize' | 'callback' | 'revoke' | 'dispatcher' | 'worker',
      number
    >
  >;
  readonly appName?: string;
  readonly pubsub?: boolean;
  readonly latencyMs?: number;
  /** Extra settings for every function. */
  readonly env?: Readonly<Record<string, string>>;
  /** Where function log lines go (default: stdout, prefixed). */
  readonly onLog?: (fn: string, line: string) => void;
  /** Connection events published by the functions (default: printed). */
  readonly onEvent?: (event: Record<string, unknown>) => void;
  readonly build?: boolean;
}

export interface LocalStack {
  readonly urls: Readonly<Record<string, string>>;
  readonly env: Readonly<Record<string, string>>;
  readonly standIn: GoogleStandIn;
  readonly firestore: Emulator;
  readonly pubsub: Emulator | undefined;
  readonly functions: readonly string[];
  /** Restarts every function with these settings changed (e.g. JOBS): a redeploy, locally. */
  reconfigure(changes: Readonly<Record<string, string>>): Promise<void>;
  stop(): Promise<void>;
}

/** A keyset kept across runs in .local/ (git-ignored), so stored tokens stay readable. */
async function localKeysetFile(): Promise<string> {
  const file = path.join(ROOT, '.local', 'token-keyset.json');
  if (!existsSync(file)) {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, generateKeysetJson('k1'), { mode: 0o600 });
  }
  return file;
}

/** Waits until the port accepts TCP connections (no request: CloudEvent functions reject probes). */
async function waitForPort(port: number, child: ChildProcess, name: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`${name} exited with ${child.exitCode} during start-up`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${name} did not start listening on port ${port}`);
}

export async function startLocalStack(options: StackOptions = {}): Promise<LocalStack> {
  const children = new Map<string, ChildProcess>();
  const servers: Server[] = [];
  const emulators: Emulator[] = [];
  let standIn: GoogleStandIn | undefined;
  let wiring: PubSubWiring | undefined;
  const stateFile = path.join(ROOT, '.local', 'stack.json');
  const stop = async () => {
    await rm(stateFile, { force: true });
    await wiring?.close();
    await Promise.all([...children.values()].map((child) => stopChild(child)));
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
    await standIn?.close();
    await Promise.all(emulators.map((emulator) => emulator.stop()));
  };
  try {
    const built = options.build === false ? undefined : await buildFunctions();
    const functions = built
      ? built.map((fn) => fn.name)
      : ['authorize', 'callback', 'revoke'].filter((name) =>
          existsSync(path.join(ROOT, 'dist', name)),
        );

    const [firestore, pubsub] = await Promise.all([
      startEmulator('firestore'),
      options.pubsub === false ? Promise.resolve(undefined) : startEmulator('pubsub'),
    ]);
    emulators.push(firestore, ...(pubsub ? [pubsub] : []));

    const port = async (name: keyof NonNullable<StackOptions['ports']>) =>
      options.ports?.[name] || (await freePort());
    const urls: Record<string, string> = {};
    const ports: Record<string, number> = {};
    for (const name of functions) {
      ports[name] = await port(name as never);
      // Browsers treat http://localhost as a secure context: __Host- cookies work locally.
      urls[name] = `http://localhost:${ports[name]}/`;
    }
    ports.start = await port('start');
    urls.start = `http://localhost:${ports.start}/`;

    const secretDir = path.join(ROOT, '.local');
    await mkdir(secretDir, { recursive: true });
    const clientSecretFile = path.join(secretDir, 'oauth-client-secret');
    const clientSecret = `GOCSPX-${randomBytes(18).toString('base64url')}`;
    await writeFile(clientSecretFile, clientSecret, { mode: 0o600 });

    standIn = await startGoogleStandIn({
      port: await port('standIn'),
      latencyMs: options.latencyMs ?? 0,
      clients: [{ clientId: LOCAL_CLIENT_ID, clientSecret, redirectUris: [urls.callback ?? ''] }],
    });
    urls.standIn = standIn.url;

    const env: Record<string, string> = {
      APP_NAME: options.appName ?? 'Consent Vault (local)',
      GOOGLE_CLOUD_PROJECT: LOCAL_PROJECT,
      FIRESTORE_EMULATOR_HOST: firestore.hostPort,
      ...(pubsub ? { PUBSUB_EMULATOR_HOST: pubsub.hostPort } : {}),
      OAUTH_CLIENT_ID: LOCAL_CLIENT_ID,
      OAUTH_CLIENT_SECRET_FILE: clientSecretFile,
      TOKEN_KEYSET_FILE: await localKeysetFile(),
      REDIRECT_URI: urls.callback ?? '',
      AUTHORIZE_URL: urls.authorize ?? '',
      REVOKE_URL: urls.revoke ?? '',
      RETURN_TO_ALLOWLIST: urls.start,
      REVOKE_CALLERS: LOCAL_SERVICE_CALLER,
      ...googleEndpointSettings(standIn.endpoints),
      ...options.env,
    };

    const onLog = options.onLog ?? ((fn: string, line: string) => console.log(`[${fn}] ${line}`));
    const startFunctions = () =>
      Promise.all(
        functions.map(async (name) => {
          const child = spawn(
            process.execPath,
            [
              '--import',
              LOOPBACK_ONLY,
              FRAMEWORK,
              `--target=${name}`,
              `--source=${path.join(ROOT, 'dist', name)}`,
              `--port=${ports[name]}`,
            ],
            {
              cwd: path.join(ROOT, 'dist', name),
              env: {
                PATH: process.env.PATH ?? '',
                HOME: process.env.HOME ?? '',
                NODE_ENV: 'production',
                ...env,
              },
              stdio: ['ignore', 'pipe', 'pipe'],
            },
          );
          children.set(name, child);
          for (const stream of [child.stdout, child.stderr])
            createInterface({ input: stream }).on('line', (line) => onLog(name, line));
          await waitForPort(ports[name] ?? 0, child, name);
        }),
      );
    await startFunctions();
    /** New settings for every function: each is restarted on its port, as a redeploy would. */
    const reconfigure = async (changes: Readonly<Record<string, string>>) => {
      Object.assign(env, changes);
      loadConfig(env);
      await Promise.all([...children.values()].map((child) => stopChild(child)));
      children.clear();
      await startFunctions();
    };

    if (pubsub && urls.dispatcher && urls.worker) {
      const config = loadConfig(env);
      wiring = await wirePushSubscriptions(
        { projectId: config.projectId, pubsubEmulatorHost: pubsub.hostPort },
        config.pubsub,
        { dispatcher: urls.dispatcher, worker: urls.worker },
        {
          onEvent: options.onEvent ?? ((event) => console.log(`[event] ${JSON.stringify(event)}`)),
        },
      );
    }
    // Google's Cross-Account Protection pushes to the risc function, as `npm run risc -- register`
    // sets it up on a project.
    if (urls.risc)
      await riscApi(
        standIn.endpoints.riscApiRoot,
        standIn.control.mintServiceAccountIdToken({
          email: 'risc-admin@local.iam.gserviceaccount.com',
          audience: RISC_AUDIENCE,
        }),
      ).register(urls.risc);
    // The operator CLIs (trigger, report, connections, risc) find the local stack through this file.
    const cliSettings = {
      ...publicSettings(env),
      STAND_IN_URL: standIn.url,
      RISC_API_ROOT: standIn.endpoints.riscApiRoot,
    };
    await writeFile(stateFile, `${JSON.stringify({ env: cliSettings, urls }, null, 2)}\n`);

    const page = startPage({
      appName: env.APP_NAME ?? '',
      connectUrl: urls.authorize ?? '',
      jobs: configuredJobs(loadConfig(env)),
    });
    const startServer = createServer((_req, res) => {
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
      });
      res.end(page);
    });
    servers.push(startServer);
    await new Promise<void>((resolve) => startServer.listen(ports.start, '127.0.0.1', resolve));

    return { urls, env, standIn, firestore, pubsub, functions, stop, reconfigure };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Settings without secret values (the secret files' paths are fine: they are local). */
function publicSettings(env: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !/SECRET$|KEYSET$/.test(name)));
}

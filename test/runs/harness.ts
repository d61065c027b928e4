// Shared set-up for the run tests: the real Firestore and Pub/Sub emulators (from npm test, or
// started here when run alone), the Google stand-in, a runtime on a fresh demo- project, users
// seeded through a real scripted consent and code exchange, and helpers to run the dispatcher and
// worker under the real functions-framework with emulator push subscriptions.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cloudEvent, type CloudEvent } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { Timestamp, type Firestore } from '@google-cloud/firestore';
import { loadConfig } from '../../shared/settings/config.ts';
import { generateKeysetJson } from '../../shared/crypto/keyset.ts';
import { memoryEventPublisher } from '../../shared/pubsub/events.ts';
import { runnerServices } from '../../shared/platform/runner-services.ts';
import { DRIVE_FILE_SCOPE } from '../../shared/jobs/builtin/drive-export.ts';
import { pubsubPublisher, type TopicPublisher } from '../../shared/pubsub/publisher.ts';
import { createRunDeps, type RunDeps, type RunDepsOptions } from '../../shared/runs/deps.ts';
import { dispatcherHandler, workerHandler } from '../../shared/runs/handlers.ts';
import { publishTick } from '../../shared/runs/trigger.ts';
import { createRuntime, type Runtime } from '../../shared/platform/runtime.ts';
import { sealToken, type StoredConnection } from '../../shared/store/connection/document.ts';
import { dpopFetch, type DpopKeys } from '../../shared/oauth/dpop.ts';
import { connectionRef } from '../support/connections.ts';
import { startEmulator, type Emulator } from '../support/emulators.ts';
import {
  captureSink,
  recordFirestoreProject,
  recordIssuedSecrets,
  recordOutput,
} from '../support/capture.ts';
import { startGoogleStandIn, type GoogleStandIn } from '../standin/index.ts';
import { googleEndpointSettings } from '../support/google-settings.ts';
import {
  wirePushSubscriptions,
  type PubSubWiring,
  type WiringOptions,
} from '../support/pubsub-wiring.ts';

// Nothing here runs on Google Cloud: the gRPC clients' universe-domain lookup would probe the
// metadata server, fail on this closed network and print a warning (as in test/local/stack.ts).
// The benchmark's function processes inherit it.
process.env.METADATA_SERVER_DETECTION ??= 'none';

export const CLIENT_ID = 'runs-test.apps.googleusercontent.com';
export const REDIRECT_URI = 'http://localhost:3999/oauth/callback';

let ownEmulators: Promise<{ firestore: string; pubsub: string }> | undefined;
const started: Emulator[] = [];

/** Emulator hosts from npm test, or emulators started for this file. */
export function emulatorHosts(): Promise<{ firestore: string; pubsub: string }> {
  const firestore = process.env.FIRESTORE_EMULATOR_HOST;
  const pubsub = process.env.PUBSUB_EMULATOR_HOST;
  if (firestore && pubsub) return Promise.resolve({ firestore, pubsub });
  ownEmulators ??= (async () => {
    const [f, p] = await Promise.all([startEmulator('firestore'), startEmulator('pubsub')]);
    started.push(f, p);
    return { firestore: f.hostPort, pubsub: p.hostPort };
  })();
  return ownEmulators;
}

export interface RunHarness {
  readonly standIn: GoogleStandIn;
  readonly runtime: Runtime;
  readonly db: Firestore;
  readonly env: Record<string, string>;
  readonly logs: Record<string, unknown>[];
  readonly events: ReturnType<typeof memoryEventPublisher>;
  readonly projectId: string;
  deps(options?: RunDepsOptions): Promise<RunDeps>;
  seedUsers(count: number, options?: SeedOptions): Promise<SeededUser[]>;
  /** A new consent of this user at the stand-in, and the code exchange (nothing stored). */
  consentAtGoogle(email: string): Promise<GoogleConsent>;
  connection(sub: string): Promise<StoredConnection>;
  /** Publishes a tick at `at` (ISO) to the tick topic, as Cloud Scheduler would; its daily run. */
  tick(at: string): Promise<string>;
  close(): Promise<void>;
}

export interface SeedOptions {
  /** Space-separated scopes the user grants (default: all requested). */
  readonly grant?: string;
  readonly prefix?: string;
  readonly concurrency?: number;
  /** Bind each refresh token to the primary of these DPoP keys, as the callback does. */
  readonly dpop?: DpopKeys;
}

export interface SeededUser {
  readonly sub: string;
  readonly email: string;
}

export async function startRunHarness(
  name: string,
  overrides: Record<string, string> = {},
  standInOptions: { latencyMs?: number } = {},
): Promise<RunHarness> {
  const hosts = await emulatorHosts();
  const projectId = `demo-runs-${name}-${randomBytes(3).toString('hex')}`;
  recordFirestoreProject(projectId);
  const clientSecret = `GOCSPX-${randomBytes(18).toString('base64url')}`;
  const standIn = await startGoogleStandIn({
    clients: [{ clientId: CLIENT_ID, clientSecret, redirectUris: [REDIRECT_URI] }],
    ...standInOptions,
  });
  const suffix = randomBytes(3).toString('hex');
  const env: Record<string, string> = {
    GOOGLE_CLOUD_PROJECT: projectId,
    FIRESTORE_EMULATOR_HOST: hosts.firestore,
    PUBSUB_EMULATOR_HOST: hosts.pubsub,
    OAUTH_CLIENT_ID: CLIENT_ID,
    OAUTH_CLIENT_SECRET: clientSecret,
    TOKEN_KEYSET: generateKeysetJson('k1'),
    REDIRECT_URI,
    AUTHORIZE_URL: 'http://localhost:3999/authorize',
    REVOKE_URL: 'http://localhost:3999/revoke',
    ...googleEndpointSettings(standIn.endpoints),
    TICK_TOPIC: `tick-${suffix}`,
    WORK_TOPIC: `work-${suffix}`,
    EVENTS_TOPIC: `events-${suffix}`,
    DEAD_LETTER_TOPIC: `dead-${suffix}`,
    LOG_LEVEL: 'INFO',
    ...overrides,
  };
  const logs: Record<string, unknown>[] = [];
  const events = memoryEventPublisher();
  const runtime = createRuntime({
    config: loadConfig(env, { clientSecret: true, tokenKeyset: true }),
    sink: captureSink((line) => logs.push(JSON.parse(line) as Record<string, unknown>)),
    services: { ...runnerServices, events: () => events },
  });
  const db = await runtime.firestore();
  const publishers: TopicPublisher[] = [];

  const harness: RunHarness = {
    standIn,
    runtime,
    db,
    env,
    logs,
    events,
    projectId,
    async deps(options = {}) {
      const publisher = options.publisher ?? pubsubPublisher(runtime.config);
      publishers.push(publisher);
      return createRunDeps(runtime, {
        events,
        publisher,
        backoffBaseMs: 20,
        ...options,
      });
    },
    seedUsers: (count, options = {}) => seedUsers(harness, clientSecret, count, options),
    consentAtGoogle: (email) => consentAtGoogle(standIn, clientSecret, email),
    async connection(sub) {
      return (await connectionRef(db, sub).get()).data() as StoredConnection;
    },
    async tick(at) {
      const publisher = pubsubPublisher(runtime.config);
      try {
        const { tickTopic } = runtime.config.pubsub;
        return (await publishTick(publisher, tickTopic, Date.parse(at), 86400)).runId;
      } finally {
        await publisher.close();
      }
    },
    async close() {
      recordIssuedSecrets(standIn.control.issuedSecrets());
      await Promise.all(publishers.map((publisher) => publisher.close()));
      await runtime.close();
      await standIn.close();
    },
  };
  return harness;
}

async function seedUsers(
  harness: RunHarness,
  clientSecret: string,
  count: number,
  options: SeedOptions,
): Promise<SeededUser[]> {
  const { standIn, runtime, db } = harness;
  const keys = await runtime.keys('token');
  const prefix = options.prefix ?? 'user';
  const users: SeededUser[] = new Array<SeededUser>(count);
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const index = next;
      next += 1;
      const email = `${prefix}${index}@example.com`;
      users[index] = await consentAndStore(standIn, db, keys, clientSecret, email, options);
    }
  };
  await Promise.all(Array.from({ length: Math.min(count, options.concurrency ?? 16) }, lane));
  return users;
}

/** What a scripted consent at the stand-in and the code exchange hand back. */
export interface GoogleConsent {
  readonly sub: string;
  readonly refreshToken: string;
  readonly accessToken: string;
  readonly expiresIn: number;
  readonly scopes: readonly string[];
}

/** A real scripted consent at the stand-in (prompt=consent) and the code exchange. */
export async function consentAtGoogle(
  standIn: GoogleStandIn,
  clientSecret: string,
  email: string,
  grant?: string,
  dpop?: DpopKeys,
): Promise<GoogleConsent> {
  const auth = new URL(standIn.endpoints.authUrl);
  const params: Record<string, string> = {
    client_id: CLIENT_ID,
    redirect_uri: REDIRECT_URI,
    response_type: 'code',
    scope: `openid email ${DRIVE_FILE_SCOPE}`,
    access_type: 'offline',
    prompt: 'consent',
    state: randomBytes(8).toString('hex'),
    standin_decision: 'approve',
    standin_user: email,
    ...(grant === undefined ? {} : { standin_grant: grant }),
  };
  for (const [key, value] of Object.entries(params)) auth.searchParams.set(key, value);
  const consent = await fetch(auth, { redirect: 'manual' });
  await consent.body?.cancel();
  const location = consent.headers.get('location');
  const code = location ? new URL(location).searchParams.get('code') : null;
  if (!code) throw new Error(`scripted consent failed: ${consent.status}`);
  const post = dpop ? dpopFetch(fetch, dpop, dpop.primaryJkt) : fetch;
  const tokenResponse = await post(standIn.endpoints.tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT_URI,
      client_id: CLIENT_ID,
      client_secret: clientSecret,
    }),
  });
  const tokens = (await tokenResponse.json()) as {
    access_token: string;
    refresh_token: string;
    expires_in: number;
    scope: string;
    id_token: string;
  };
  if (!tokens.refresh_token) throw new Error(`code exchange failed: ${tokenResponse.status}`);
  const claims = JSON.parse(
    Buffer.from(tokens.id_token.split('.')[1] ?? '', 'base64url').toString('utf8'),
  ) as { sub: string };
  return {
    sub: claims.sub,
    refreshToken: tokens.refresh_token,
    accessToken: tokens.access_token,
    expiresIn: tokens.expires_in,
    scopes: tokens.scope.split(' '),
  };
}

/** A scripted consent and the connection document the callback would store. */
async function consentAndStore(
  standIn: GoogleStandIn,
  db: Firestore,
  keys: Parameters<typeof sealToken>[0],
  clientSecret: string,
  email: string,
  options: SeedOptions,
): Promise<SeededUser> {
  const consent = await consentAtGoogle(standIn, clientSecret, email, options.grant, options.dpop);
  const sub = consent.sub;
  const now = Timestamp.now();
  const doc: StoredConnection = {
    sub,
    email,
    state: 'active',
    scopes: [...consent.scopes],
    refreshToken: sealToken(keys, sub, 'refreshToken', consent.refreshToken),
    refreshTokenExpiresAt: null,
    // The code exchange's access token is stored as the callback would; runs refresh it when it
    // would not outlive the user's budget (shared/runs/tokens.ts).
    accessToken: sealToken(keys, sub, 'accessToken', consent.accessToken),
    accessTokenExpiresAt: Timestamp.fromMillis(Date.now() + consent.expiresIn * 1000),
    connectedAt: now,
    updatedAt: now,
    reconnectReason: null,
    refreshLease: null,
    lastRun: null,
    revokePendingSince: null,
    revokeRefusal: null,
    revokedAt: null,
    appUserId: null,
    jobs: {},
    settingsUpdatedAt: null,
    refreshTokenHash: null,
    dpopJkt: options.dpop?.primaryJkt ?? null,
    paused: null,
  };
  await connectionRef(db, sub).set(doc);
  return { sub, email };
}

/** Makes every stored access token look nearly expired, so the next run must refresh. */
export async function expireAccessTokens(db: Firestore, subs: readonly string[]): Promise<void> {
  const writer = db.bulkWriter();
  for (const sub of subs)
    void writer.update(connectionRef(db, sub), {
      accessTokenExpiresAt: Timestamp.fromMillis(Date.now() + 60_000),
    });
  await writer.close();
}

// ---- Pub/Sub: the real functions-framework behind emulator push subscriptions ----

let registered = 0;

export interface PushedFunction {
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

/** Serves a CloudEvent handler through the real functions-framework on a local port. */
export async function serveCloudEvent(
  handler: (event: CloudEvent<unknown>) => Promise<unknown>,
  port = 0,
): Promise<PushedFunction> {
  const name = `runs-fn-${(registered += 1)}`;
  cloudEvent(name, async (event: CloudEvent<unknown>) => {
    await handler(event);
  });
  const server = getTestServer(name);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const { port: actual } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${actual}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Creates the tick and work topics and push subscriptions to the given endpoints, as deploy does
 * for the functions (test/support/pubsub-wiring.ts, shared with the local stack).
 */
export function wirePubSub(
  harness: RunHarness,
  endpoints: { dispatcher: string; worker: string },
  options: WiringOptions = {},
): Promise<PubSubWiring> {
  const { config } = harness.runtime;
  return wirePushSubscriptions(config, config.pubsub, endpoints, options);
}

/**
 * The dispatcher of this harness served here, and the push subscriptions: ticks to it, work to
 * `workerUrl` (a worker process, or a router in front of several).
 */
export async function pushToWorker(
  harness: RunHarness,
  workerUrl: string,
  options: WiringOptions = {},
): Promise<{ close(): Promise<void> }> {
  const dispatcher = await serveCloudEvent(dispatcherHandler(() => harness.deps()));
  const wiring = await wirePubSub(
    harness,
    { dispatcher: dispatcher.url, worker: workerUrl },
    options,
  );
  return {
    async close() {
      await dispatcher.close();
      await wiring.close();
    },
  };
}

/** The dispatcher and worker of this harness, each under the functions-framework. */
export async function serveRunFunctions(
  harness: RunHarness,
  options: RunDepsOptions = {},
): Promise<{
  dispatcher: PushedFunction;
  worker: PushedFunction;
  deps: RunDeps;
  close(): Promise<void>;
}> {
  const deps = await harness.deps(options);
  const dispatcher = await serveCloudEvent(dispatcherHandler(() => Promise.resolve(deps)));
  const worker = await serveCloudEvent(workerHandler(() => Promise.resolve(deps)));
  return {
    dispatcher,
    worker,
    deps,
    async close() {
      await Promise.all([dispatcher.close(), worker.close()]);
    },
  };
}

export async function stopOwnEmulators(): Promise<void> {
  await Promise.all(started.map((emulator) => emulator.stop()));
}

/**
 * The worker as deployed (functions/worker.ts, test/runs/worker-process.ts) in its own process on
 * `port`, with the harness's settings; its output goes to the leak scan, and its JSON log lines
 * into `lines` when given. Resolves once it listens.
 */
export function startWorkerProcess(
  harness: RunHarness,
  port: number,
  lines?: Record<string, unknown>[],
): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['test/runs/worker-process.ts'], {
    env: { ...process.env, ...harness.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let output = '';
    // A line may arrive in two chunks: only whole lines are parsed.
    let partial = '';
    child.stdout.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      recordOutput(text);
      output += text;
      const complete = (partial + text).split('\n');
      partial = complete.pop() ?? '';
      if (lines)
        for (const line of complete)
          if (line.startsWith('{')) lines.push(JSON.parse(line) as Record<string, unknown>);
      if (output.includes('worker ready')) resolve(child);
    });
    child.stderr.on('data', (chunk: Buffer) => recordOutput(chunk.toString()));
    child.on('exit', (code) =>
      reject(new Error(`worker exited early (${code}): ${output.slice(-500)}`)),
    );
  });
}

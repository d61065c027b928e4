// In-process test harness: the Google stand-in, the real Firestore emulator (a fresh demo-
// project per harness, so test files run in parallel without sharing data), and the three HTTP
// handlers on the real functions-framework's server (getTestServer) answered by their own request
// listener, exactly as deployed (shared/platform/serve-http.ts).
import { http as registerHttp } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import type { Firestore } from '@google-cloud/firestore';
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { RequestListener, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../shared/settings/config.ts';
import { generateKeysetJson } from '../../shared/crypto/keyset.ts';
import { requestListener } from '../../shared/platform/http-adapter.ts';
import { takeOverServer } from '../../shared/platform/serve-http.ts';
import { REQUEST_BODIES } from '../../shared/web/bodies.ts';
import { authorizeHandler } from '../../shared/flows/authorize.ts';
import { callbackHandler } from '../../shared/flows/callback.ts';
import { revokeHandler } from '../../shared/flows/revoke.ts';
import { httpServices } from '../../shared/platform/http-services.ts';
import { createFirestore } from '../../shared/store/firestore.ts';
import { createRuntime, type Runtime } from '../../shared/platform/runtime.ts';
import { memoryEventPublisher, type ConnectionEvent } from '../../shared/pubsub/events.ts';
import type { Clock } from '../../shared/retry/time.ts';
import { startGoogleStandIn, type GoogleStandIn } from '../standin/index.ts';
import { captureSink, recordFirestoreProject, recordIssuedSecrets } from './capture.ts';
import { googleEndpointSettings } from './google-settings.ts';

export const CLIENT_ID = 'consent-vault-test.apps.googleusercontent.com';
export const SERVICE_CALLER = 'app-backend@demo-consent-vault.iam.gserviceaccount.com';

export interface TestApp {
  readonly standIn: GoogleStandIn;
  readonly runtime: Runtime;
  readonly db: Firestore;
  readonly projectId: string;
  readonly urls: { authorize: string; callback: string; revoke: string };
  readonly env: Record<string, string>;
  /** Every log line the handlers wrote, parsed. */
  readonly logs: Array<Record<string, unknown>>;
  /** Every connection event the handlers published. */
  readonly events: readonly ConnectionEvent[];
  readonly clientSecret: string;
  /** Milliseconds added to the app's clock (the stand-in has its own control). */
  clockOffsetMs: number;
  close(): Promise<void>;
}

let registered = 0;

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve(`http://localhost:${port}`);
    });
  });
}

export async function startTestApp(overrides: Record<string, string> = {}): Promise<TestApp> {
  const emulator = process.env.FIRESTORE_EMULATOR_HOST;
  if (!emulator)
    throw new Error('FIRESTORE_EMULATOR_HOST is not set: run the tests with `npm test`.');
  const projectId = `demo-test-${randomBytes(4).toString('hex')}`;
  recordFirestoreProject(projectId);
  const clientSecret = `GOCSPX-${randomBytes(18).toString('base64url')}`;

  // Servers first (their URLs are settings), handlers bound once the runtime exists.
  const id = (registered += 1);
  const slots: Record<string, RequestListener | undefined> = {};
  const servers: Record<'authorize' | 'callback' | 'revoke', Server> = {} as never;
  const urls = {} as TestApp['urls'];
  for (const name of ['authorize', 'callback', 'revoke'] as const) {
    const fnName = `${name}-${id}`;
    registerHttp(fnName, () => {
      throw new Error('answered by the function listener, never by the framework app');
    });
    servers[name] = getTestServer(fnName);
    takeOverServer(servers[name], (req, res) => {
      const listener = slots[name];
      if (!listener) throw new Error('handler not ready');
      listener(req, res);
    });
    urls[name] = `${await listen(servers[name])}/`;
  }

  const standIn = await startGoogleStandIn({
    clients: [{ clientId: CLIENT_ID, clientSecret, redirectUris: [urls.callback] }],
  });
  const env: Record<string, string> = {
    APP_NAME: 'Consent Vault Test',
    GOOGLE_CLOUD_PROJECT: projectId,
    FIRESTORE_EMULATOR_HOST: emulator,
    OAUTH_CLIENT_ID: CLIENT_ID,
    OAUTH_CLIENT_SECRET: clientSecret,
    TOKEN_KEYSET: generateKeysetJson('k1'),
    REDIRECT_URI: urls.callback,
    AUTHORIZE_URL: urls.authorize,
    REVOKE_URL: urls.revoke,
    RETURN_TO_ALLOWLIST: 'http://localhost:5000/welcome',
    REVOKE_CALLERS: SERVICE_CALLER,
    ...googleEndpointSettings(standIn.endpoints),
    LOG_LEVEL: 'DEBUG',
    ...overrides,
  };
  const logs: Array<Record<string, unknown>> = [];
  const sink = captureSink((line) => logs.push(JSON.parse(line) as Record<string, unknown>));
  const app = { clockOffsetMs: 0 } as TestApp;
  const published = memoryEventPublisher();
  const clock: Clock = { now: () => Date.now() + app.clockOffsetMs };
  const runtime = createRuntime({
    config: loadConfig(env, { clientSecret: true, tokenKeyset: true }),
    sink,
    clock,
    // Every HTTP function of the app in one runtime, as deployed; @google-cloud/firestore only for
    // the tests' own reads and checks.
    services: { ...httpServices, firestore: createFirestore, events: () => published },
  });
  const { log } = runtime;
  slots.authorize = requestListener(authorizeHandler(runtime), REQUEST_BODIES.authorize, log);
  slots.callback = requestListener(callbackHandler(runtime), REQUEST_BODIES.callback, log);
  slots.revoke = requestListener(revokeHandler(runtime), REQUEST_BODIES.revoke, log);
  const db = await runtime.firestore();

  return Object.assign(app, {
    standIn,
    runtime,
    db,
    projectId,
    urls,
    env,
    logs,
    events: published.events,
    clientSecret,
    async close() {
      recordIssuedSecrets(standIn.control.issuedSecrets());
      for (const server of Object.values(servers)) {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
      await standIn.close();
      await runtime.close();
    },
  });
}

/** Every document of the collections the flows write, with its update time: any write changes it. */
export async function databaseState(
  db: Firestore,
  names: readonly string[] = ['connections', 'revocations'],
): Promise<string> {
  const snapshots = await Promise.all(names.map((name) => db.collection(name).get()));
  const out: Record<string, unknown> = {};
  for (const snapshot of snapshots)
    for (const doc of snapshot.docs)
      out[doc.ref.path] = { updateTime: doc.updateTime.toMillis(), data: doc.data() };
  return JSON.stringify(out);
}

/** Runs an action and fails the test if it wrote anything (bad input must lose and change nothing). */
export async function expectNoWrites<T>(db: Firestore, action: () => Promise<T>): Promise<T> {
  const before = await databaseState(db);
  const result = await action();
  expect(await databaseState(db)).toBe(before);
  return result;
}

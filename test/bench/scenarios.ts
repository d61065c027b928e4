// What each cold start is asked to do, and the environment the functions get. Every measured
// request is a real one: authorize answers its 302; callback finishes a fresh scripted consent
// (code exchange, ID token check, and the first Firestore call: the connection transaction);
// revoke shows the confirmation page for a valid signed link, which reads the connection from
// Firestore first. Each answer is checked, so a run that took a shortcut (an error page) fails.
import { startFakeKms } from '../fakes/kms-server.ts';
import { wrapKeyset } from '../../shared/crypto/wrapped-keyset.ts';
import { kmsKeyWrapper } from '../../shared/secrets/kms.ts';
import type { Firestore } from '@google-cloud/firestore';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../shared/settings/config.ts';
import {
  generateKeysetJson,
  parseKeyset,
  purposeKeysetJson,
  type Keyset,
} from '../../shared/crypto/keyset.ts';
import { buildAuthorizationUrl } from '../../shared/oauth/authorization.ts';
import { sealTransaction, transactionCookieName } from '../../shared/oauth/transaction.ts';
import { connectionRef } from '../support/connections.ts';
import { createPubSubClient } from '../../shared/pubsub/publisher.ts';
import { createFirestore } from '../../shared/store/firestore.ts';
import { createUnsubscribeLink } from '../../shared/web/unsubscribe-link.ts';
import { startGoogleStandIn, type GoogleStandIn } from '../standin/index.ts';
import type { RawAnswer, RawRequest } from '../support/raw-http.ts';
import { googleEndpointSettings } from '../support/google-settings.ts';

export const CLIENT_ID = 'consent-vault-bench.apps.googleusercontent.com';
/**
 * Nominal public URLs. Google (and the stand-in) compare the redirect URI as a string and never
 * call it, so it need not be where the process listens; the measuring request goes to the
 * spawned process's own port with the same path.
 */
const PUBLIC_ROOT = 'http://localhost:8080';
const REDIRECT_URI = `${PUBLIC_ROOT}/callback`;
const REVOKE_URL = `${PUBLIC_ROOT}/revoke`;
const REVOKE_SUB = '100000000000000000001';

export interface Scenario {
  /** A fresh measuring request (callback needs a new code every time). */
  request(): Promise<RawRequest>;
  /** Throws when the answer is not the one the real flow gives. */
  check(answer: RawAnswer): void;
}

export interface BenchWorld {
  readonly env: Record<string, string>;
  /** Cloud KMS calls so far (each cold start unwraps the token keyset once). */
  kmsCalls(): number;
  readonly scenarios: Record<'authorize' | 'callback' | 'revoke', Scenario>;
  close(): Promise<void>;
}

function pathOf(url: string): string {
  const parsed = new URL(url);
  return `${parsed.pathname}${parsed.search}`;
}

function expect(condition: boolean, what: string, answer: RawAnswer): void {
  if (!condition)
    throw new Error(`unexpected answer (${what}): ${answer.status}\n${answer.body.slice(0, 600)}`);
}

export async function startBenchWorld(
  firestoreHost: string,
  pubsubHost: string,
): Promise<BenchWorld> {
  const projectId = `demo-bench-${randomBytes(4).toString('hex')}`;
  const clientSecret = `GOCSPX-${randomBytes(18).toString('base64url')}`;
  const keysetJson = generateKeysetJson('k1');
  const keyset: Keyset = parseKeyset(keysetJson);
  const standIn: GoogleStandIn = await startGoogleStandIn({
    clients: [{ clientId: CLIENT_ID, clientSecret, redirectUris: [REDIRECT_URI] }],
  });
  // The keys as the deploy stores them: one keyset per purpose, the token one wrapped by (a local)
  // Cloud KMS, so callback's and revoke's cold starts include the unwrap.
  const kms = await startFakeKms();
  const wrappedToken = await wrapKeyset(await kmsKeyWrapper(kms.url), {
    keysetJson: purposeKeysetJson(keysetJson, 'token'),
    kmsKey: 'projects/demo-bench/locations/global/keyRings/consent-vault/cryptoKeys/token-keyset',
  });
  const env: Record<string, string> = {
    APP_NAME: 'Consent Vault Bench',
    GOOGLE_CLOUD_PROJECT: projectId,
    FIRESTORE_EMULATOR_HOST: firestoreHost,
    // callback and revoke publish a connection event per request, as in production.
    PUBSUB_EMULATOR_HOST: pubsubHost,
    OAUTH_CLIENT_ID: CLIENT_ID,
    OAUTH_CLIENT_SECRET: clientSecret,
    TOKEN_KEYSET: wrappedToken,
    COOKIE_KEYSET: purposeKeysetJson(keysetJson, 'cookie'),
    LINK_KEYSET: purposeKeysetJson(keysetJson, 'link'),
    CONNECT_KEYSET: purposeKeysetJson(keysetJson, 'connect'),
    KMS_ENDPOINT: kms.url,
    REDIRECT_URI,
    AUTHORIZE_URL: `${PUBLIC_ROOT}/authorize`,
    REVOKE_URL,
    ...googleEndpointSettings(standIn.endpoints),
  };
  const config: Config = loadConfig(env, { clientSecret: true });

  const pubsub = await createPubSubClient(config);
  await pubsub.createTopic(config.pubsub.eventsTopic);
  await pubsub.close();

  // revoke reads this connection (state active → the confirmation page).
  const db: Firestore = await createFirestore(config);
  await connectionRef(db, REVOKE_SUB).set({
    sub: REVOKE_SUB,
    email: 'bench-revoke@example.com',
    state: 'active',
    scopes: [],
    refreshToken: null,
  });
  const revokeLink = createUnsubscribeLink(
    keyset.forPurpose('link'),
    REVOKE_URL,
    REVOKE_SUB,
    Date.now() + 86400e3,
  );

  let consents = 0;
  const scenarios: BenchWorld['scenarios'] = {
    authorize: {
      request: () => Promise.resolve({ path: '/authorize' }),
      check: (answer) =>
        expect(
          answer.status === 302 &&
            String(answer.headers.location).startsWith(standIn.endpoints.authUrl),
          'authorize: 302 to the consent page',
          answer,
        ),
    },
    callback: {
      // What authorize and the browser would do: a sealed transaction cookie, then a scripted
      // consent at the stand-in for a new user each time, whose redirect carries a fresh code.
      async request() {
        consents += 1;
        const { url, transaction } = buildAuthorizationUrl(config, {
          now: Date.now(),
          returnTo: null,
          loginHint: null,
          promptConsent: false,
        });
        const consent = new URL(url);
        consent.searchParams.set('standin_decision', 'approve');
        consent.searchParams.set('standin_user', `bench-${consents}@example.com`);
        const response = await fetch(consent, { redirect: 'manual' });
        await response.arrayBuffer();
        const location = response.headers.get('location');
        if (response.status !== 302 || location === null || !location.startsWith(REDIRECT_URI))
          throw new Error(`stand-in consent did not redirect to the callback (${response.status})`);
        const cookie = sealTransaction(keyset.forPurpose('cookie'), transaction);
        const name = transactionCookieName(transaction.state);
        return { path: pathOf(location), headers: { cookie: `${name}=${cookie}` } };
      },
      check: (answer) =>
        expect(
          answer.status === 303 && answer.headers.location === config.successUrl,
          'callback: 303 to the success page after storing the connection',
          answer,
        ),
    },
    revoke: {
      request: () => Promise.resolve({ path: pathOf(revokeLink) }),
      check: (answer) =>
        expect(
          answer.status === 200 && answer.body.includes('id="confirm"'),
          'revoke: the confirmation page of an active connection',
          answer,
        ),
    },
  };

  return {
    env,
    scenarios,
    kmsCalls: () => kms.calls(),
    async close() {
      await db.terminate();
      await standIn.close();
      await kms.close();
    },
  };
}

/**
 * The baseline: the smallest functions-framework function, plain CommonJS, in a temporary folder.
 * Its node_modules links to the project's, so it loads the very same functions-framework copy.
 */
export async function createEmptyFunction(
  projectRoot: string,
): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'cv-bench-empty-'));
  const source = path.join(dir, 'empty');
  await mkdir(source);
  await writeFile(
    path.join(source, 'index.js'),
    `const { http } = require('@google-cloud/functions-framework');\nhttp('empty', (req, res) => res.send('ok'));\n`,
  );
  await writeFile(
    path.join(source, 'package.json'),
    `${JSON.stringify({ name: 'empty', private: true, main: 'index.js' }, null, 2)}\n`,
  );
  await symlink(path.join(projectRoot, 'node_modules'), path.join(source, 'node_modules'), 'dir');
  return { dir: source, remove: () => rm(dir, { recursive: true, force: true }) };
}

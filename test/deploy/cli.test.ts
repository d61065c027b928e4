// The real deploy CLI as a child process against the fake gcloud (first on PATH) and the fake
// Rules API. One project goes through a dry run, a first run, a second run and a settings change.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeysetJson, parseKeyset, purposeKeysetJson } from '../../shared/crypto/keyset.ts';
import { keysetAad } from '../../shared/crypto/wrapped-keyset.ts';
import { parseDpopKeys } from '../../shared/oauth/dpop.ts';
import { fakeKmsDecrypt } from './fake-gcloud/fake-kms.ts';
import { emptyProject } from './fake-gcloud/state.ts';
import type { FakePolicy, FakeState, LogEntry } from './fake-gcloud/state.ts';
import { flagOf, FUNCTION_NAMES, mutations, PROJECT, ROOT, Sandbox } from './harness.ts';
import type { RunResult } from './harness.ts';

const TIMEOUT = 180_000;
/** Reached by browsers, Google's consent redirect, email links and Google's security events. */
const PUBLIC = ['authorize', 'callback', 'revoke', 'risc'];
/** The functions that use Firestore and publish connection events. */
const STORING = ['callback', 'revoke', 'dispatcher', 'worker', 'risc'];
const email = (name: string): string => `consent-vault-${name}@${PROJECT}.iam.gserviceaccount.com`;
const sa = (name: string): string => `serviceAccount:${email(name)}`;
const AGENT = 'serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com';
/** Written out: the schema's TOKEN_KEYSET functions must be exactly these. */
const TOKEN_FUNCTIONS = ['callback', 'revoke', 'dispatcher', 'worker', 'risc'];
/** Written out: the schema's DPOP_KEYS functions, the ones that exchange or refresh tokens. */
const DPOP_FUNCTIONS = ['callback', 'dispatcher', 'worker'];
const DPOP_SECRET = 'consent-vault-dpop-keys';

/** The DPOP_KEYS mount of each function's deploy call in a log ('' without one). */
function dpopMounts(log: readonly LogEntry[]): Record<string, string> {
  return Object.fromEntries(
    FUNCTION_NAMES.map((name) => {
      const deploy = mutations(log).find((a) => a[1] === 'deploy' && a[2] === name) ?? [];
      const mounts = (flagOf(deploy, 'set-secrets') ?? '').split(',');
      return [name, mounts.find((m) => m.startsWith('DPOP_KEYS=')) ?? ''];
    }),
  );
}
const RING = 'locations/europe-west1/keyRings/consent-vault';
const KMS_KEY = `projects/${PROJECT}/${RING}/cryptoKeys/token-keyset`;
const DPOP_KMS_KEY = `projects/${PROJECT}/${RING}/cryptoKeys/consent-vault-dpop`;

function membersOf(policy: FakeState['projectPolicy'], role: string): string[] {
  return policy.bindings
    .filter((b) => b.role === role)
    .flatMap((b) => b.members)
    .sort();
}

function rolesOf(policy: FakeState['projectPolicy']): string[] {
  return policy.bindings.filter((b) => b.members.length > 0).map((b) => b.role);
}

/** Every binding in the project that names `member`, as "RESOURCE ROLE", sorted. */
function bindingsOf(state: FakeState, member: string): string[] {
  const policies: [string, FakeState['projectPolicy']][] = [
    ['project', state.projectPolicy],
    ...Object.entries(state.secrets).map(([n, s]): [string, FakePolicy] => [
      `secret ${n}`,
      s.policy,
    ]),
    ...Object.entries(state.kms.keyRings).flatMap(([ring, r]) =>
      Object.entries(r.keys).map(([k, key]): [string, FakePolicy] => [
        `key ${ring}/${k}`,
        key.policy,
      ]),
    ),
    ...Object.entries(state.topics).map(([n, t]): [string, FakePolicy] => [`topic ${n}`, t.policy]),
    ...Object.entries(state.subscriptions).map(([n, t]): [string, FakePolicy] => [
      `subscription ${n}`,
      t.policy,
    ]),
    ...Object.entries(state.runPolicies).map(([n, p]): [string, FakePolicy] => [
      `function ${n}`,
      p,
    ]),
  ];
  return policies
    .flatMap(([what, p]) =>
      p.bindings.filter((b) => b.members.includes(member)).map((b) => `${what} ${b.role}`),
    )
    .sort();
}

/** Sorts definitions by display name. */
function byName(a: unknown, b: unknown): number {
  const name = (x: unknown) => String((x as { displayName?: unknown }).displayName);
  return name(a).localeCompare(name(b));
}

describe('deploy CLI against a fake project', () => {
  let sandbox: Sandbox;
  let emptyStateText: string;
  let dry: RunResult;
  let dryLog: LogEntry[];
  let afterDryText: string;
  let first: RunResult;
  let firstLog: LogEntry[];
  let afterFirst: FakeState;
  let second: RunResult;
  let secondLog: LogEntry[];

  beforeAll(async () => {
    sandbox = await Sandbox.create();
    emptyStateText = readFileSync(sandbox.stateFile, 'utf8');

    dry = await sandbox.run(
      sandbox.args(['--dry-run', '--client-secret-file', sandbox.clientSecretFile]),
    );
    dryLog = sandbox.log();
    afterDryText = readFileSync(sandbox.stateFile, 'utf8');
    sandbox.clearLog();

    first = await sandbox.run(sandbox.args(['--client-secret-file', sandbox.clientSecretFile]));
    firstLog = sandbox.log();
    afterFirst = sandbox.state();
    sandbox.clearLog();

    second = await sandbox.run(sandbox.args());
    secondLog = sandbox.log();
    sandbox.clearLog();
  }, TIMEOUT);

  afterAll(async () => {
    await sandbox.close();
  });

  describe('dry run on an empty project', () => {
    it('runs only read-only gcloud calls and changes nothing', () => {
      expect(dry.code, dry.stderr).toBe(0);
      expect(dryLog.length).toBeGreaterThan(0);
      expect(dryLog.filter((entry) => entry.mutating)).toEqual([]);
      expect(afterDryText).toBe(emptyStateText);
    });

    it('prints every command the real run would start with', () => {
      const commands = dry.stdout.split('\n').filter((line) => line.startsWith('gcloud '));
      for (const name of FUNCTION_NAMES)
        expect(commands.some((c) => c.startsWith(`gcloud functions deploy ${name} `))).toBe(true);
      expect(commands.filter((c) => c.startsWith('gcloud secrets create '))).toHaveLength(6);
      expect(commands).toContain(
        `gcloud secrets create ${DPOP_SECRET} --project=${PROJECT} --replication-policy=automatic --data-file=-  # stdin: an ES256 DPoP key set generated in memory`,
      );
      expect(commands).toContain(
        `gcloud kms keys create token-keyset --project=${PROJECT} --keyring=consent-vault --location=europe-west1 --purpose=encryption --rotation-period=90d --next-rotation-time=+P90D`,
      );
      expect(commands.filter((c) => c.startsWith('gcloud pubsub topics create '))).toHaveLength(4);
      expect(commands.some((c) => c.startsWith('gcloud services enable '))).toBe(true);
      expect(commands.some((c) => c.startsWith('gcloud firestore databases create '))).toBe(true);
      expect(commands.some((c) => c.startsWith('gcloud scheduler jobs create pubsub '))).toBe(true);
      expect(dry.stdout).toContain('Release the repository');
      expect(dry.stdout).toContain('Dry run: no command that changes anything was run.');
    });

    it('prints the log-based metrics, the dashboard and the alerting policies, each from its file', () => {
      const lines = dry.stdout.split('\n');
      const dir = sandbox.monitoringDir;
      const metrics = readdirSync(path.join(dir, 'metrics')).map((f) => f.replace('.json', ''));
      expect(metrics).toHaveLength(6);
      for (const name of metrics)
        expect(lines).toContain(
          `gcloud logging metrics create ${name} --project=${PROJECT} --config-from-file=${dir}/metrics/${name}.json`,
        );
      expect(lines).toContain(
        `gcloud monitoring dashboards create --project=${PROJECT} --config-from-file=${dir}/dashboard.json`,
      );
      for (const file of readdirSync(path.join(dir, 'policies')))
        expect(lines).toContain(
          `gcloud alpha monitoring policies create --project=${PROJECT} --policy-from-file=${dir}/policies/${file}`,
        );
      expect(lines).toContain(
        '# Create alerting policy "consent-vault: dead letters" (after each log-based metric it reads exists)',
      );
      expect(dry.stdout).toContain(
        'Dashboard and alerts (what each means and what to do: docs/operations.md#dashboard-and-alerts):',
      );
      expect(dry.stdout).toContain(
        'The alerting policies notify nobody yet: deploy once with --alert-email ADDRESS',
      );
    });

    it(
      'dry run with --assume-empty runs no gcloud at all',
      async () => {
        const scratch = await Sandbox.create();
        try {
          const result = await scratch.run(scratch.args(['--dry-run', '--assume-empty']));
          expect(result.code, result.stderr).toBe(0);
          expect(scratch.log()).toEqual([]);
          expect(result.stdout).toContain('gcloud functions deploy worker');
          // Without --client-secret-file the plan names the problem a real run would stop on.
          expect(result.stdout).toContain(
            'problem: secret consent-vault-oauth-client-secret does not exist',
          );
        } finally {
          await scratch.close();
        }
      },
      TIMEOUT,
    );
  });

  describe('first run on an empty project', () => {
    it('succeeds and creates everything', () => {
      expect(first.code, first.stderr).toBe(0);
      const state = afterFirst;
      expect(state.services).toEqual(
        expect.arrayContaining([
          'cloudfunctions.googleapis.com',
          'run.googleapis.com',
          'eventarc.googleapis.com',
          'pubsub.googleapis.com',
          'firestore.googleapis.com',
          'firebaserules.googleapis.com',
          'secretmanager.googleapis.com',
          'cloudscheduler.googleapis.com',
          'risc.googleapis.com',
        ]),
      );
      expect(Object.keys(state.serviceAccounts).sort()).toEqual(
        [...FUNCTION_NAMES, 'scheduler'].map(email).sort(),
      );
      expect(Object.keys(state.secrets).sort()).toEqual([
        'consent-vault-connect-keyset',
        'consent-vault-cookie-keyset',
        'consent-vault-dpop-keys',
        'consent-vault-link-keyset',
        'consent-vault-oauth-client-secret',
        'consent-vault-token-keyset',
      ]);
      expect(Object.keys(state.topics).sort()).toEqual([
        'consent-vault-dead-letter',
        'consent-vault-events',
        'consent-vault-tick',
        'consent-vault-work',
      ]);
      expect(Object.keys(state.functions).sort()).toEqual([...FUNCTION_NAMES].sort());
      expect(state.databases['(default)']?.type).toBe('FIRESTORE_NATIVE');
      expect(state.schedulerJobs['europe-west1/consent-vault-tick']).toMatchObject({
        schedule: '0 3 * * *',
        timeZone: 'Etc/UTC',
        pubsubTarget: { topicName: `projects/${PROJECT}/topics/consent-vault-tick` },
      });
    });

    it('sets up the data model: native database, index, TTL on every expiring collection, rules', () => {
      const db = afterFirst.databases['(default)'];
      const ttl = (db?.ttls ?? []).map((t) => t.name.split('/collectionGroups/')[1]).sort();
      expect(ttl).toEqual(
        [
          'batches',
          'callbackStates',
          'connectLinks',
          'control',
          'deadLetters',
          'deliveries',
          'dispatched',
          'ledger',
          'revocations',
          'runs',
          'securityEvents',
        ].map((g) => `${g}/fields/expireAt`),
      );
      expect(
        (db?.overrides ?? []).map((o) => o.name.split('/collectionGroups/')[1]).sort(),
      ).toEqual(ttl);
      expect(db?.indexes.map((i) => i.fields.map((f) => f.fieldPath))).toEqual([
        ['status', 'nextRunAt', '__name__'],
      ]);
      const released = afterFirst.releases[`projects/${PROJECT}/releases/cloud.firestore`] ?? '';
      expect(afterFirst.rulesets[released]).toBe(
        readFileSync(path.join(ROOT, 'firestore.rules'), 'utf8'),
      );
    });

    it('dead-letters both trigger subscriptions after bounded, backed-off retries', () => {
      for (const name of ['dispatcher', 'worker']) {
        const trigger = afterFirst.functions[name]?.eventTrigger;
        expect(trigger?.retryPolicy).toBe('RETRY_POLICY_RETRY');
        const id = trigger?.trigger.split('/').pop() ?? '';
        const sub = afterFirst.subscriptions[afterFirst.eventarcTriggers[id]?.subscription ?? ''];
        expect(sub?.deadLetterPolicy).toEqual({
          deadLetterTopic: `projects/${PROJECT}/topics/consent-vault-dead-letter`,
          maxDeliveryAttempts: 5,
        });
        expect(sub?.retryPolicy).toEqual({ minimumBackoff: '10s', maximumBackoff: '600s' });
        expect(membersOf(sub?.policy ?? { bindings: [] }, 'roles/pubsub.subscriber')).toEqual([
          AGENT,
        ]);
      }
      expect(
        membersOf(
          afterFirst.topics['consent-vault-dead-letter']?.policy ?? { bindings: [] },
          'roles/pubsub.publisher',
        ),
      ).toEqual([AGENT]);
      expect(afterFirst.subscriptions['consent-vault-dead-letter-sub']?.topic).toBe(
        `projects/${PROJECT}/topics/consent-vault-dead-letter`,
      );
    });

    it('grants project-wide only roles/datastore.user, and only to the Firestore functions', () => {
      const project = afterFirst.projectPolicy;
      expect(rolesOf(project).sort()).toEqual(['roles/datastore.user', 'roles/owner']);
      expect(membersOf(project, 'roles/datastore.user')).toEqual(STORING.map(sa).sort());
      for (const args of mutations(firstLog).filter((a) => a[0] === 'projects'))
        expect(flagOf(args, 'role')).toBe('roles/datastore.user');
    });

    it('scopes every other grant to a named secret, topic or function', () => {
      const policy = (p: { policy: FakeState['projectPolicy'] } | undefined) =>
        p?.policy ?? { bindings: [] };
      const secrets = afterFirst.secrets;
      expect(rolesOf(policy(secrets['consent-vault-oauth-client-secret']))).toEqual([
        'roles/secretmanager.secretAccessor',
      ]);
      expect(
        membersOf(
          policy(secrets['consent-vault-oauth-client-secret']),
          'roles/secretmanager.secretAccessor',
        ),
      ).toEqual(['callback', 'dispatcher', 'worker'].map(sa).sort());
      const readers: Record<string, string[]> = {
        token: TOKEN_FUNCTIONS,
        cookie: ['authorize', 'callback'],
        link: ['revoke'],
        connect: ['authorize', 'revoke'],
      };
      for (const [purpose, names] of Object.entries(readers)) {
        const secretPolicy = policy(secrets[`consent-vault-${purpose}-keyset`]);
        expect(rolesOf(secretPolicy), purpose).toEqual(['roles/secretmanager.secretAccessor']);
        expect(membersOf(secretPolicy, 'roles/secretmanager.secretAccessor'), purpose).toEqual(
          names.map(sa).sort(),
        );
      }
      const dpopPolicy = policy(secrets[DPOP_SECRET]);
      expect(rolesOf(dpopPolicy)).toEqual(['roles/secretmanager.secretAccessor']);
      expect(membersOf(dpopPolicy, 'roles/secretmanager.secretAccessor')).toEqual(
        DPOP_FUNCTIONS.map(sa).sort(),
      );
      const topics = afterFirst.topics;
      // The worker continues a batch whose deliveries died as a fresh message.
      expect(membersOf(policy(topics['consent-vault-work']), 'roles/pubsub.publisher')).toEqual([
        sa('dispatcher'),
        sa('worker'),
      ]);
      expect(membersOf(policy(topics['consent-vault-events']), 'roles/pubsub.publisher')).toEqual(
        STORING.map(sa).sort(),
      );
      // The dispatcher hands a long run over with a tick of its own (Cloud Scheduler publishes
      // as Google's service agent, which needs no grant here).
      expect(membersOf(policy(topics['consent-vault-tick']), 'roles/pubsub.publisher')).toEqual([
        sa('dispatcher'),
      ]);
    });

    it('makes only the browser-facing functions and risc public', () => {
      for (const name of FUNCTION_NAMES) {
        const invokers = membersOf(
          afterFirst.runPolicies[name] ?? { bindings: [] },
          'roles/run.invoker',
        );
        expect(invokers, name).toEqual(PUBLIC.includes(name) ? ['allUsers'] : [sa('scheduler')]);
        const deploy = mutations(firstLog).find((a) => a[1] === 'deploy' && a[2] === name) ?? [];
        expect(deploy.includes('--allow-unauthenticated'), name).toBe(PUBLIC.includes(name));
        expect(afterFirst.functions[name]?.serviceConfig.ingressSettings).toBe(
          PUBLIC.includes(name) ? 'ALLOW_ALL' : 'ALLOW_INTERNAL_ONLY',
        );
      }
    });

    it('sends secret values only on stdin: never in an argument, the output or the project', async () => {
      const withStdin = firstLog.filter((e) => e.stdin !== '' && e.tool === 'gcloud');
      const create = (name: string) =>
        withStdin.find((e) => e.args.slice(0, 3).join(' ') === `secrets create ${name}`);
      expect(create('consent-vault-oauth-client-secret')?.stdin).toBe(sandbox.clientSecret);
      // The token keyset went to gcloud kms encrypt only; its secret got the wrapped envelope.
      const encrypt = withStdin.filter((e) => e.args[0] === 'kms' && e.args[1] === 'encrypt');
      expect(encrypt).toHaveLength(1);
      const tokenKeyset = encrypt[0]?.stdin ?? '';
      expect(parseKeyset(tokenKeyset).purpose).toBe('token');
      expect(create('consent-vault-token-keyset')?.stdin).toBe(
        sandbox.payload('consent-vault-token-keyset', 1),
      );
      const keysets = [
        tokenKeyset,
        ...['cookie', 'link', 'connect'].map(
          (purpose) => create(`consent-vault-${purpose}-keyset`)?.stdin ?? '',
        ),
      ];
      const keyBytes = keysets.flatMap((keyset) =>
        Object.values((JSON.parse(keyset) as { keys: Record<string, string> }).keys),
      );
      // Four keysets of one fresh key each, all different.
      expect(new Set(keyBytes).size).toBe(4);
      // The DPoP keys: one private P-256 JWK, generated in memory, stored as it was sent.
      const dpopKeys = create(DPOP_SECRET)?.stdin ?? '';
      expect((await parseDpopKeys(dpopKeys)).jkts).toHaveLength(1);
      expect(sandbox.payload(DPOP_SECRET, 1)).toBe(dpopKeys);
      const dpopJwk = (JSON.parse(dpopKeys) as { keys: Record<string, { d: string }> }).keys['d1'];
      expect(dpopJwk?.d).toMatch(/^[\w-]{43}$/);

      const everyArg = [dryLog, firstLog, secondLog]
        .flat()
        .flatMap((e) => e.args)
        .join('\n');
      const everyOutput = [dry, first, second].map((r) => r.stdout + r.stderr).join('\n');
      const project = readFileSync(sandbox.stateFile, 'utf8');
      for (const secret of [
        sandbox.clientSecret,
        ...keysets,
        ...keyBytes,
        dpopKeys,
        dpopJwk?.d ?? '',
      ]) {
        expect(everyArg).not.toContain(secret);
        expect(everyOutput).not.toContain(secret);
        expect(project).not.toContain(secret);
      }
      // The access token for the Rules API went in a header only.
      const token = afterFirst.accessToken;
      expect(everyArg).not.toContain(token);
      expect(everyOutput).not.toContain(token);
      // No other gcloud call received stdin: six secrets and the one encrypt.
      expect(withStdin).toHaveLength(7);
    });

    it('wraps the token keyset with the new KMS key, bound to the token purpose', () => {
      const ring = afterFirst.kms.keyRings['locations/europe-west1/keyRings/consent-vault'];
      expect(ring?.keys['token-keyset']).toMatchObject({
        purpose: 'ENCRYPT_DECRYPT',
        rotationPeriod: '7776000s',
      });
      const stored = JSON.parse(sandbox.payload('consent-vault-token-keyset', 1) ?? '{}') as {
        wrapped?: { kmsKey: string; purpose: string; ciphertext: string };
      };
      expect(stored.wrapped?.kmsKey).toBe(KMS_KEY);
      expect(stored.wrapped?.purpose).toBe('token');
      const ciphertext = Buffer.from(stored.wrapped?.ciphertext ?? '', 'base64');
      const opened = fakeKmsDecrypt(KMS_KEY, ciphertext, keysetAad('token')).toString('utf8');
      expect(parseKeyset(opened).purpose).toBe('token');
      // The AAD binds it to its purpose: it does not open as another purpose's keyset.
      expect(() => fakeKmsDecrypt(KMS_KEY, ciphertext, keysetAad('cookie'))).toThrow();
      // The deploy printed the encrypt it ran (no value in it).
      expect(first.stdout).toMatch(
        /^gcloud kms encrypt --project=demo-consent-vault --location=europe-west1 --keyring=consent-vault --key=token-keyset --plaintext-file=- --ciphertext-file=\S+ --additional-authenticated-data-file=\S+$/m,
      );
      expect(first.stdout).toContain(`The token keyset is wrapped by Cloud KMS key ${KMS_KEY}`);
    });

    it('lets exactly the token functions decrypt with the key', () => {
      const ring = afterFirst.kms.keyRings['locations/europe-west1/keyRings/consent-vault'];
      const keyPolicy = ring?.keys['token-keyset']?.policy ?? { bindings: [] };
      expect(rolesOf(keyPolicy)).toEqual(['roles/cloudkms.cryptoKeyDecrypter']);
      expect(membersOf(keyPolicy, 'roles/cloudkms.cryptoKeyDecrypter')).toEqual(
        TOKEN_FUNCTIONS.map(sa).sort(),
      );
    });

    it('gives authorize COOKIE_KEYSET and CONNECT_KEYSET only: no token key, no KMS role', () => {
      const deploy = mutations(firstLog).find((a) => a[1] === 'deploy' && a[2] === 'authorize');
      const mounted = (flagOf(deploy ?? [], 'set-secrets') ?? '')
        .split(',')
        .map((item) => item.split('=')[0]);
      expect(mounted).toEqual(['COOKIE_KEYSET', 'CONNECT_KEYSET']);
      expect(
        afterFirst.functions['authorize']?.serviceConfig.secretEnvironmentVariables.map(
          (s) => s.secret,
        ),
      ).toEqual(['consent-vault-cookie-keyset', 'consent-vault-connect-keyset']);
      expect(bindingsOf(afterFirst, sa('authorize'))).toEqual([
        'secret consent-vault-connect-keyset roles/secretmanager.secretAccessor',
        'secret consent-vault-cookie-keyset roles/secretmanager.secretAccessor',
      ]);
    });

    it('mounts DPOP_KEYS on callback, dispatcher and worker only, and lets only them read it', () => {
      const mount = `DPOP_KEYS=projects/${PROJECT}/secrets/${DPOP_SECRET}:1`;
      expect(dpopMounts(firstLog)).toEqual(
        Object.fromEntries(
          FUNCTION_NAMES.map((name) => [name, DPOP_FUNCTIONS.includes(name) ? mount : '']),
        ),
      );
      for (const name of FUNCTION_NAMES) {
        const mounted = afterFirst.functions[name]?.serviceConfig.secretEnvironmentVariables.find(
          (s) => s.key === 'DPOP_KEYS',
        );
        const holds = bindingsOf(afterFirst, sa(name)).includes(
          `secret ${DPOP_SECRET} roles/secretmanager.secretAccessor`,
        );
        expect([mounted?.secret, holds], name).toEqual(
          DPOP_FUNCTIONS.includes(name) ? [DPOP_SECRET, true] : [undefined, false],
        );
      }
      expect(first.stdout).toContain(
        `DPoP mode secret: refresh tokens are bound to the keys in DPOP_KEYS (secret ${DPOP_SECRET}); only callback, dispatcher, worker hold them`,
      );
      // The Cloud KMS DPoP key is opt-in (--dpop-kms): by default there is none, and no setting.
      expect(Object.keys(afterFirst.kms.keyRings[RING]?.keys ?? {})).toEqual(['token-keyset']);
      for (const name of FUNCTION_NAMES)
        expect(
          afterFirst.functions[name]?.serviceConfig.environmentVariables,
          name,
        ).not.toHaveProperty('DPOP_KMS_KEYS');
    });

    it("deploys risc public, holding only the schema's grants and no client secret", () => {
      const deploy = mutations(firstLog).find((a) => a[1] === 'deploy' && a[2] === 'risc') ?? [];
      expect(deploy).toContain('--trigger-http');
      expect(deploy).toContain('--allow-unauthenticated');
      const fn = afterFirst.functions['risc'];
      expect(fn?.serviceConfig.ingressSettings).toBe('ALLOW_ALL');
      expect(fn?.serviceConfig.serviceAccountEmail).toBe(email('risc'));
      expect(fn?.serviceConfig.availableMemory).toBe('256Mi');
      expect(fn?.serviceConfig.maxInstanceRequestConcurrency).toBe(10);
      expect(
        membersOf(afterFirst.runPolicies['risc'] ?? { bindings: [] }, 'roles/run.invoker'),
      ).toEqual(['allUsers']);
      // The settings schema gives risc TOKEN_KEYSET only: it opens a hijacked account's refresh
      // token to revoke it, and never refreshes one.
      expect(fn?.serviceConfig.secretEnvironmentVariables.map((s) => [s.key, s.secret])).toEqual([
        ['TOKEN_KEYSET', 'consent-vault-token-keyset'],
      ]);
      expect(bindingsOf(afterFirst, sa('risc'))).toEqual([
        'key locations/europe-west1/keyRings/consent-vault/token-keyset roles/cloudkms.cryptoKeyDecrypter',
        'project roles/datastore.user',
        'secret consent-vault-token-keyset roles/secretmanager.secretAccessor',
        'topic consent-vault-events roles/pubsub.publisher',
      ]);
      expect(afterFirst.services).toContain('risc.googleapis.com');
    });

    it('prints the risc URL and the registration of the Cross-Account Protection stream', () => {
      const url = `https://europe-west1-${PROJECT}.cloudfunctions.net/risc`;
      expect(first.stdout).toContain(`  risc       ${url}  (public)`);
      expect(first.stdout).toContain('roles/riscconfigs.admin');
      expect(first.stdout).toContain(
        `RISC_SERVICE_ACCOUNT_KEY_FILE=risc-admin-key.json npm run risc -- register --url ${url}\n`,
      );
      expect(first.stdout).toContain(
        'RISC_SERVICE_ACCOUNT_KEY_FILE=risc-admin-key.json npm run risc -- verify',
      );
      // Printed, never run: the deploy makes no admin account and no key.
      expect(firstLog.some((e) => e.args.join(' ').includes('risc-admin'))).toBe(false);
    });

    it('pins numeric secret versions on every function', () => {
      for (const name of FUNCTION_NAMES) {
        const versions = afterFirst.functions[name]?.serviceConfig.secretEnvironmentVariables ?? [];
        expect(versions.length).toBeGreaterThan(0);
        for (const v of versions) expect(v.version).toBe('1');
      }
    });

    it('sets the function URLs and the project on every function, and prints them', () => {
      for (const name of FUNCTION_NAMES)
        expect(afterFirst.functions[name]?.serviceConfig.environmentVariables).toMatchObject({
          GOOGLE_CLOUD_PROJECT: PROJECT,
          REDIRECT_URI: `https://europe-west1-${PROJECT}.cloudfunctions.net/callback`,
          AUTHORIZE_URL: `https://europe-west1-${PROJECT}.cloudfunctions.net/authorize`,
          REVOKE_URL: `https://europe-west1-${PROJECT}.cloudfunctions.net/revoke`,
          REVOKE_CALLERS: `backend@${PROJECT}.iam.gserviceaccount.com,ops@${PROJECT}.iam.gserviceaccount.com`,
        });
      expect(first.stdout).toContain(
        `Register this redirect URI on the OAuth client (APIs & Services > Credentials > your Web client):\n  https://europe-west1-${PROJECT}.cloudfunctions.net/callback`,
      );
      expect(first.stdout).toContain('Manual steps left:');
    });
  });

  describe('the dashboard and alerts after the first run', () => {
    it('are the files of --monitoring, as they are; each policy after the metrics it reads', () => {
      const dir = sandbox.monitoringDir;
      const json = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as unknown;
      expect(Object.keys(afterFirst.logMetrics).sort()).toEqual(
        readdirSync(path.join(dir, 'metrics')).map((f) => f.replace('.json', '')),
      );
      for (const [name, metric] of Object.entries(afterFirst.logMetrics))
        expect(metric).toEqual(json(path.join(dir, 'metrics', `${name}.json`)));
      expect(Object.values(afterFirst.dashboards)).toEqual([
        json(path.join(dir, 'dashboard.json')),
      ]);
      expect(
        Object.values(afterFirst.alertPolicies)
          .map((p) => p.body)
          .sort(byName),
      ).toEqual(
        readdirSync(path.join(dir, 'policies'))
          .map((f) => json(path.join(dir, 'policies', f)))
          .sort(byName),
      );
      // Nobody to notify without --alert-email; and no channel was even listed.
      expect(Object.values(afterFirst.alertPolicies).every((p) => p.channels.length === 0)).toBe(
        true,
      );
      expect(firstLog.some((e) => e.args.includes('channels'))).toBe(false);
      const order = firstLog.filter((e) => e.mutating).map((e) => e.args.slice(0, 4).join(' '));
      expect(order.lastIndexOf('logging metrics create consent_vault_dead_letters')).toBeLessThan(
        order.indexOf('alpha monitoring policies create'),
      );
    });
  });

  describe('second run on the resulting project', () => {
    it('changes nothing', () => {
      expect(second.code, second.stderr).toBe(0);
      expect(secondLog.length).toBeGreaterThan(0);
      expect(secondLog.filter((e) => e.mutating)).toEqual([]);
      expect(second.stdout).toContain('Nothing to change');
      expect(sandbox.state()).toEqual(afterFirst);
      // The DPoP keys are reused, never regenerated: bound refresh tokens keep refreshing.
      expect(sandbox.state().secrets[DPOP_SECRET]?.versions).toEqual([
        { number: 1, state: 'ENABLED' },
      ]);
    });

    it(
      'redeploys only the functions when a setting changes',
      async () => {
        const envFile = path.join(sandbox.dir, 'deploy.env');
        writeFileSync(
          envFile,
          `${readFileSync(envFile, 'utf8')}LOG_LEVEL=DEBUG\n`.replace('LOG_LEVEL=INFO\n', ''),
        );
        const result = await sandbox.run(sandbox.args());
        expect(result.code, result.stderr).toBe(0);
        const changed = mutations(sandbox.log());
        expect(changed.map((a) => a.slice(0, 3).join(' ')).sort()).toEqual(
          FUNCTION_NAMES.map((n) => `functions deploy ${n}`).sort(),
        );
        for (const name of FUNCTION_NAMES)
          expect(
            sandbox.state().functions[name]?.serviceConfig.environmentVariables['LOG_LEVEL'],
          ).toBe('DEBUG');
        sandbox.clearLog();
      },
      TIMEOUT,
    );
  });
});

describe('deploy CLI and the key custody', () => {
  const TOKEN = 'consent-vault-token-keyset';

  it(
    '--no-kms stores a raw token keyset, touches no Cloud KMS and names the choice weaker',
    async () => {
      const sandbox = await Sandbox.create();
      try {
        const result = await sandbox.run(
          sandbox.args(['--no-kms', '--client-secret-file', sandbox.clientSecretFile]),
        );
        expect(result.code, result.stderr).toBe(0);
        expect(sandbox.log().filter((e) => e.args[0] === 'kms')).toEqual([]);
        expect(sandbox.state().services).not.toContain('cloudkms.googleapis.com');
        expect(parseKeyset(sandbox.payload(TOKEN, 1) ?? '').purpose).toBe('token');
        expect(result.stdout).toContain(
          'WARNING: --no-kms: the token keyset is stored unwrapped, the weaker choice',
        );
      } finally {
        await sandbox.close();
      }
    },
    TIMEOUT,
  );

  it(
    '--no-dpop creates no DPoP keys, mounts none and names the choice weaker',
    async () => {
      const sandbox = await Sandbox.create();
      try {
        const result = await sandbox.run(
          sandbox.args(['--no-dpop', '--client-secret-file', sandbox.clientSecretFile]),
        );
        expect(result.code, result.stderr).toBe(0);
        // Read (the secret is described), never written.
        const touching = sandbox.log().filter((e) => e.args.some((a) => a.includes('dpop')));
        expect(touching.length).toBeGreaterThan(0);
        expect(touching.filter((e) => e.mutating)).toEqual([]);
        expect(Object.keys(sandbox.state().secrets)).not.toContain(DPOP_SECRET);
        expect(Object.values(dpopMounts(sandbox.log()))).toEqual(FUNCTION_NAMES.map(() => ''));
        expect(result.stdout).toContain(
          'WARNING: --no-dpop: DPoP mode off, the weaker choice: a stolen refresh token together with the token keyset could be refreshed.',
        );
      } finally {
        await sandbox.close();
      }
    },
    TIMEOUT,
  );

  it(
    'splits the master keyset of a one-keyset project into the four purpose keysets',
    async () => {
      const project = emptyProject(PROJECT);
      project.services.push('secretmanager.googleapis.com');
      // The one-keyset model: one master TOKEN_KEYSET, read by every function.
      project.secrets[TOKEN] = {
        versions: [{ number: 1, state: 'ENABLED' }],
        policy: {
          bindings: [
            { role: 'roles/secretmanager.secretAccessor', members: FUNCTION_NAMES.map(sa) },
          ],
        },
      };
      const sandbox = await Sandbox.create(project);
      try {
        const master = generateKeysetJson('k1');
        sandbox.setPayload(TOKEN, 1, master);
        const result = await sandbox.run(
          sandbox.args(['--client-secret-file', sandbox.clientSecretFile]),
        );
        expect(result.code, result.stderr).toBe(0);
        expect(result.stdout).toContain(
          `note: migration: secret ${TOKEN} version 1 holds a master keyset`,
        );
        // Exactly the keys the master derived: every sealed value stays readable.
        for (const purpose of ['cookie', 'link', 'connect'] as const)
          expect(sandbox.payload(`consent-vault-${purpose}-keyset`, 1), purpose).toBe(
            purposeKeysetJson(master, purpose),
          );
        const stored = JSON.parse(sandbox.payload(TOKEN, 2) ?? '{}') as {
          wrapped?: { ciphertext: string };
        };
        const ciphertext = Buffer.from(stored.wrapped?.ciphertext ?? '', 'base64');
        expect(fakeKmsDecrypt(KMS_KEY, ciphertext, keysetAad('token')).toString('utf8')).toBe(
          purposeKeysetJson(master, 'token'),
        );
        const state = sandbox.state();
        // The master opens every purpose unwrapped: disabled once nothing pins it.
        expect(state.secrets[TOKEN]?.versions).toEqual([
          { number: 1, state: 'DISABLED' },
          { number: 2, state: 'ENABLED' },
        ]);
        expect(
          membersOf(
            state.secrets[TOKEN]?.policy ?? { bindings: [] },
            'roles/secretmanager.secretAccessor',
          ),
        ).toEqual(TOKEN_FUNCTIONS.map(sa).sort());
        for (const name of TOKEN_FUNCTIONS)
          expect(
            state.functions[name]?.serviceConfig.secretEnvironmentVariables.find(
              (s) => s.key === 'TOKEN_KEYSET',
            )?.version,
            name,
          ).toBe('2');
        expect(result.stdout).toContain('The project matches the repository.');
      } finally {
        await sandbox.close();
      }
    },
    TIMEOUT,
  );
});

describe('deploy CLI with --dpop-kms: the DPoP key in Cloud KMS', () => {
  const KEY = 'consent-vault-dpop';
  const version = (n: number): string => `${DPOP_KMS_KEY}/cryptoKeyVersions/${n}`;
  const where = ['--keyring=consent-vault', '--location=europe-west1', `--project=${PROJECT}`];
  let sandbox: Sandbox;
  let dry: RunResult;
  let dryLog: LogEntry[];
  let first: RunResult;
  let firstLog: LogEntry[];
  let afterFirst: FakeState;
  let second: RunResult;
  let secondLog: LogEntry[];
  let rotated: RunResult;
  let third: RunResult;
  let thirdLog: LogEntry[];

  const kmsKeysOf = (state: FakeState): Record<string, string> =>
    Object.fromEntries(
      FUNCTION_NAMES.map((name) => [
        name,
        state.functions[name]?.serviceConfig.environmentVariables['DPOP_KMS_KEYS'] ?? '',
      ]),
    );
  const onlyDpop = (value: string): Record<string, string> =>
    Object.fromEntries(
      FUNCTION_NAMES.map((name) => [name, DPOP_FUNCTIONS.includes(name) ? value : '']),
    );

  beforeAll(async () => {
    sandbox = await Sandbox.create();
    const secret = ['--client-secret-file', sandbox.clientSecretFile];
    dry = await sandbox.run(sandbox.args(['--dpop-kms', '--dry-run', ...secret]));
    dryLog = sandbox.log();
    sandbox.clearLog();
    first = await sandbox.run(sandbox.args(['--dpop-kms', ...secret]));
    firstLog = sandbox.log();
    afterFirst = sandbox.state();
    sandbox.clearLog();
    second = await sandbox.run(sandbox.args(['--dpop-kms']));
    secondLog = sandbox.log();
    // The operator rotates: a new key version, then a deploy.
    rotated = await sandbox.gcloud(['kms', 'keys', 'versions', 'create', `--key=${KEY}`, ...where]);
    sandbox.clearLog();
    third = await sandbox.run(sandbox.args(['--dpop-kms']));
    thirdLog = sandbox.log();
  }, 2 * TIMEOUT);

  afterAll(async () => {
    await sandbox.close();
  });

  it('the dry run prints the key, its grants and the setting, and changes nothing', () => {
    expect(dry.code, dry.stderr).toBe(0);
    expect(dryLog.filter((e) => e.mutating)).toEqual([]);
    const commands = dry.stdout.split('\n').filter((line) => line.startsWith('gcloud '));
    expect(commands).toContain(
      `gcloud kms keys create ${KEY} --project=${PROJECT} --keyring=consent-vault --location=europe-west1 --purpose=asymmetric-signing --default-algorithm=ec-sign-p256-sha256 --protection-level=software`,
    );
    for (const name of DPOP_FUNCTIONS)
      for (const role of ['roles/cloudkms.signer', 'roles/cloudkms.publicKeyViewer'])
        expect(commands).toContain(
          `gcloud kms keys add-iam-policy-binding ${KEY} --project=${PROJECT} --keyring=consent-vault --location=europe-west1 --member=${sa(name)} --role=${role}`,
        );
    for (const name of FUNCTION_NAMES) {
      const deploy = commands.find((c) => c.startsWith(`gcloud functions deploy ${name} `)) ?? '';
      expect(deploy.includes(`DPOP_KMS_KEYS=${version(1)}`), name).toBe(
        DPOP_FUNCTIONS.includes(name),
      );
    }
    expect(commands.some((c) => c.includes(`secrets create ${DPOP_SECRET}`))).toBe(false);
    expect(dry.stdout).toContain(
      `DPoP mode kms: new refresh tokens are bound to Cloud KMS key ${DPOP_KMS_KEY} (its first version; SOFTWARE)`,
    );
  });

  it('creates the ES256 signing key, and no DPoP secret', () => {
    expect(first.code, first.stderr).toBe(0);
    const key = afterFirst.kms.keyRings[RING]?.keys[KEY];
    expect(key?.purpose).toBe('ASYMMETRIC_SIGN');
    expect(key?.versionTemplate).toEqual({
      algorithm: 'EC_SIGN_P256_SHA256',
      protectionLevel: 'SOFTWARE',
    });
    expect(key?.versions).toEqual([
      { number: 1, state: 'ENABLED', algorithm: 'EC_SIGN_P256_SHA256' },
    ]);
    expect(Object.keys(afterFirst.secrets)).not.toContain(DPOP_SECRET);
    expect(Object.values(dpopMounts(firstLog))).toEqual(FUNCTION_NAMES.map(() => ''));
  });

  it('lets exactly callback, dispatcher and worker sign with it and read its public keys', () => {
    const onKey = `key ${RING}/${KEY}`;
    for (const name of [...FUNCTION_NAMES, 'scheduler'])
      expect(
        bindingsOf(afterFirst, sa(name)).filter((b) => b.startsWith(onKey)),
        name,
      ).toEqual(
        DPOP_FUNCTIONS.includes(name)
          ? [`${onKey} roles/cloudkms.publicKeyViewer`, `${onKey} roles/cloudkms.signer`]
          : [],
      );
    // Nothing else changed hands: the DPoP functions hold no KMS role beyond these and decrypt.
    for (const name of DPOP_FUNCTIONS)
      expect(
        bindingsOf(afterFirst, sa(name)).filter((b) => b.includes('cloudkms')),
        name,
      ).toEqual([
        `${onKey} roles/cloudkms.publicKeyViewer`,
        `${onKey} roles/cloudkms.signer`,
        `key ${RING}/token-keyset roles/cloudkms.cryptoKeyDecrypter`,
      ]);
  });

  it('sets DPOP_KMS_KEYS to the key version on the DPoP functions only, and names the mode', () => {
    expect(kmsKeysOf(afterFirst)).toEqual(onlyDpop(version(1)));
    expect(first.stdout).toContain(
      `DPoP mode kms: new refresh tokens are bound to Cloud KMS key ${DPOP_KMS_KEY} (version 1; SOFTWARE), whose private key never leaves Cloud KMS`,
    );
    expect(first.stdout).toContain('The project matches the repository.');
  });

  it('a second run changes nothing and re-creates nothing', () => {
    expect(second.code, second.stderr).toBe(0);
    expect(secondLog.filter((e) => e.mutating)).toEqual([]);
    expect(second.stdout).toContain('Nothing to change');
  });

  it('after the operator adds a version, redeploys only the DPoP functions with every version, newest first', () => {
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(third.code, third.stderr).toBe(0);
    expect(
      mutations(thirdLog)
        .map((a) => a.slice(0, 3).join(' '))
        .sort(),
    ).toEqual(DPOP_FUNCTIONS.map((n) => `functions deploy ${n}`).sort());
    expect(kmsKeysOf(sandbox.state())).toEqual(onlyDpop(`${version(2)},${version(1)}`));
    expect(sandbox.state().kms.keyRings[RING]?.keys[KEY]?.versions?.map((v) => v.number)).toEqual([
      1, 2,
    ]);
    expect(third.stdout).toContain(
      '(version 2; versions 1 still refresh the tokens bound to them; SOFTWARE)',
    );
  });

  it(
    'refuses --dpop-kms with --no-dpop before any gcloud call',
    async () => {
      const scratch = await Sandbox.create();
      try {
        const result = await scratch.run(scratch.args(['--dpop-kms', '--no-dpop']));
        expect(result.code).toBe(2);
        expect(result.stderr).toContain(
          'deploy: --dpop-kms and --no-dpop contradict each other: pass one of them',
        );
        expect(scratch.log()).toEqual([]);
      } finally {
        await scratch.close();
      }
    },
    TIMEOUT,
  );
});

describe('deploy CLI refusals and secret input', () => {
  it(
    'recreates a deleted client secret from standard input',
    async () => {
      const sandbox = await Sandbox.create();
      try {
        const created = await sandbox.run(
          sandbox.args(['--client-secret-file', sandbox.clientSecretFile]),
        );
        expect(created.code, created.stderr).toBe(0);
        const state = sandbox.state();
        delete state.secrets['consent-vault-oauth-client-secret'];
        sandbox.setState(state);
        sandbox.clearLog();

        const piped = 'GOCSPX-from-stdin-0123456789';
        const result = await sandbox.run(sandbox.args(['--client-secret-file', '-']), `${piped}\n`);
        expect(result.code, result.stderr).toBe(0);
        const log = sandbox.log();
        const create = log.find(
          (e) => e.args[1] === 'create' && e.args[2] === 'consent-vault-oauth-client-secret',
        );
        expect(create?.stdin).toBe(piped);
        expect(log.flatMap((e) => e.args).join('\n')).not.toContain(piped);
        expect(result.stdout + result.stderr).not.toContain(piped);
        // Version 1 again: the functions' pinned versions did not change, so none is redeployed.
        expect(mutations(log).filter((a) => a[1] === 'deploy')).toEqual([]);
        expect(mutations(log).filter((a) => a[1] === 'add-iam-policy-binding')).toHaveLength(3);
      } finally {
        await sandbox.close();
      }
    },
    TIMEOUT,
  );

  it(
    'stops before any change when the client secret is missing',
    async () => {
      const sandbox = await Sandbox.create();
      try {
        const result = await sandbox.run(sandbox.args());
        expect(result.code).toBe(1);
        expect(result.stdout).toContain(
          'problem: secret consent-vault-oauth-client-secret does not exist',
        );
        expect(sandbox.log().filter((e) => e.mutating)).toEqual([]);
      } finally {
        await sandbox.close();
      }
    },
    TIMEOUT,
  );

  it(
    'refuses a secret in the env file without echoing it or calling gcloud',
    async () => {
      const sandbox = await Sandbox.create();
      try {
        const envFile = path.join(sandbox.dir, 'deploy.env');
        writeFileSync(
          envFile,
          `${readFileSync(envFile, 'utf8')}OAUTH_CLIENT_SECRET=GOCSPX-in-env-file\n`,
        );
        const result = await sandbox.run(sandbox.args());
        expect(result.code).toBe(1);
        expect(result.stderr).toContain('OAUTH_CLIENT_SECRET is a secret');
        expect(result.stdout + result.stderr).not.toContain('GOCSPX-in-env-file');
        expect(sandbox.log()).toEqual([]);
      } finally {
        await sandbox.close();
      }
    },
    TIMEOUT,
  );

  it(
    'refuses to deploy an unbuilt function',
    async () => {
      const sandbox = await Sandbox.create(emptyProject(PROJECT));
      try {
        const result = await sandbox.run(
          sandbox.args([
            `--dist=${path.join(sandbox.dir, 'missing')}`,
            '--client-secret-file',
            sandbox.clientSecretFile,
          ]),
        );
        expect(result.code).toBe(1);
        expect(result.stderr).toContain('lacks index.js and package.json');
        expect(sandbox.log()).toEqual([]);
      } finally {
        await sandbox.close();
      }
    },
    TIMEOUT,
  );
});

describe('deploy CLI and the enabled jobs', () => {
  const AUTH = 'https://www.googleapis.com/auth/';

  async function withJobs<T>(jobs: string, check: (sandbox: Sandbox) => Promise<T>): Promise<T> {
    const sandbox = await Sandbox.create();
    try {
      const envFile = path.join(sandbox.dir, 'deploy.env');
      writeFileSync(envFile, `${readFileSync(envFile, 'utf8')}JOBS=${jobs}\n`);
      return await check(sandbox);
    } finally {
      await sandbox.close();
    }
  }

  it(
    "a dry run enables the jobs' APIs and prints the consent-screen scopes and warnings",
    () =>
      withJobs('drive-export,sheets-read,drive-list', async (sandbox) => {
        const result = await sandbox.run(
          sandbox.args(['--dry-run', '--client-secret-file', sandbox.clientSecretFile]),
        );
        expect(result.code, result.stderr).toBe(0);
        const lines = result.stdout.split('\n');
        const enable = lines.filter((line) => line.startsWith('gcloud services enable '));
        expect(enable).toHaveLength(1);
        expect(enable[0]).toMatch(/ drive\.googleapis\.com sheets\.googleapis\.com --project=/);
        const scopes = lines
          .filter((line) => /^ {2}(openid|email|https:\/\/www\.googleapis\.com\/auth\/)/.test(line))
          .map((line) => line.trim().split(/\s+/)[0]);
        expect(scopes).toEqual([
          'openid',
          'email',
          `${AUTH}drive.file`,
          `${AUTH}spreadsheets.readonly`,
          `${AUTH}drive.metadata.readonly`,
        ]);
        const warnings = lines.filter((line) => line.startsWith('WARNING:'));
        expect(warnings).toHaveLength(2);
        expect(warnings[0]).toContain(
          `sensitive scope ${AUTH}spreadsheets.readonly (needed by sheets-read) needs Google's verification`,
        );
        expect(warnings[1]).toContain(
          `restricted scope ${AUTH}drive.metadata.readonly (needed by drive-list) needs verification and a security assessment`,
        );
      }),
    TIMEOUT,
  );

  it(
    'refuses an unknown job in the env file, naming the known ones, before calling gcloud',
    () =>
      withJobs('drive-export,drive-lsit', async (sandbox) => {
        const result = await sandbox.run(sandbox.args(['--dry-run']));
        expect(result.code).toBe(1);
        expect(result.stderr).toContain(
          'env file: JOBS: names an unknown job "drive-lsit" (known: drive-export, drive-list, sheets-read)',
        );
        expect(sandbox.log()).toEqual([]);
      }),
    TIMEOUT,
  );
});

describe('deploy CLI and the dashboard and alerts', () => {
  const EMAIL = 'ops@example.com';
  let sandbox: Sandbox;
  let first: RunResult;

  beforeAll(async () => {
    sandbox = await Sandbox.create();
    first = await sandbox.run(
      sandbox.args(['--client-secret-file', sandbox.clientSecretFile, '--alert-email', EMAIL]),
    );
  }, TIMEOUT);

  afterAll(async () => {
    await sandbox.close();
  });

  const policyNamed = (state: FakeState, displayName: string) =>
    Object.entries(state.alertPolicies).find(([, p]) => p.body.displayName === displayName);

  it('--alert-email makes one email channel and every policy notifies it', () => {
    expect(first.code, first.stderr).toBe(0);
    const state = sandbox.state();
    const channels = Object.entries(state.notificationChannels);
    expect(channels.map(([, c]) => [c.type, c.labels])).toEqual([
      ['email', { email_address: EMAIL }],
    ]);
    const [id] = channels[0] ?? [];
    expect(Object.values(state.alertPolicies).map((p) => p.channels)).toEqual(
      Array.from({ length: 4 }, () => [id]),
    );
    expect(first.stdout).toContain(`They notify ${EMAIL} (an email notification channel).`);
    expect(first.stdout).not.toContain('notify nobody');
  });

  it(
    'a changed definition updates just it, keeping the channels an operator added; then nothing changes',
    async () => {
      const state = sandbox.state();
      const [policyId, policy] =
        policyNamed(state, 'consent-vault: run not complete by its deadline') ?? [];
      if (!policyId || !policy) throw new Error('no deadline policy');
      // The operator adds a channel of their own to it in the console.
      state.notificationChannels['555'] = { type: 'sms', displayName: 'on call', labels: {} };
      policy.channels.push('555');
      sandbox.setState(state);
      const file = path.join(sandbox.monitoringDir, 'policies/run-deadline.json');
      writeFileSync(file, readFileSync(file, 'utf8').replaceAll('21600', '14400'));
      sandbox.clearLog();

      const changed = await sandbox.run(sandbox.args(['--alert-email', EMAIL]));
      expect(changed.code, changed.stderr).toBe(0);
      const [update, ...others] = mutations(sandbox.log());
      expect(others).toEqual([]);
      expect(update?.slice(0, 5)).toEqual(['alpha', 'monitoring', 'policies', 'update', policyId]);
      expect(flagOf(update ?? [], 'policy-from-file')).toBe(file);
      const after = sandbox.state().alertPolicies[policyId];
      expect(JSON.stringify(after?.body)).toContain('runElapsedSeconds>14400');
      expect([...(after?.channels ?? [])].sort()).toEqual([...policy.channels].sort());

      // A metric's file changed: it is updated by name; then a run changes nothing.
      const metric = path.join(sandbox.monitoringDir, 'metrics/consent_vault_consent_needed.json');
      writeFileSync(metric, readFileSync(metric, 'utf8').replace('by job.', 'per job.'));
      sandbox.clearLog();
      const again = await sandbox.run(sandbox.args(['--alert-email', EMAIL]));
      expect(again.code, again.stderr).toBe(0);
      expect(mutations(sandbox.log()).map((a) => a.slice(0, 4).join(' '))).toEqual([
        'logging metrics update consent_vault_consent_needed',
      ]);
      sandbox.clearLog();
      const still = await sandbox.run(sandbox.args());
      expect(still.code, still.stderr).toBe(0);
      expect(mutations(sandbox.log())).toEqual([]);
      expect(still.stdout).toContain('They notify the notification channels set on them.');
    },
    TIMEOUT,
  );

  it(
    'refuses a broken definition before calling gcloud, naming the file',
    async () => {
      const file = path.join(sandbox.monitoringDir, 'policies/dead-letters.json');
      const saved = readFileSync(file, 'utf8');
      writeFileSync(file, saved.replace('consent_vault_dead_letters', 'consent_vault_dead_leters'));
      sandbox.clearLog();
      try {
        const result = await sandbox.run(sandbox.args(['--dry-run']));
        expect(result.code).toBe(1);
        expect(result.stderr).toContain(
          'policies/dead-letters.json: reads consent_vault_dead_leters, which no file in',
        );
        expect(sandbox.log()).toEqual([]);
      } finally {
        writeFileSync(file, saved);
      }
    },
    TIMEOUT,
  );
});

// The pure plan builder: project state in, gcloud steps out. No process, no gcloud.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../infra/deploy/args.ts';
import { buildDesired, parseIndexes } from '../../infra/deploy/desired.ts';
import type { Desired } from '../../infra/deploy/desired.ts';
import { buildPlan, envVarsArg, isReady, pubsubAgent } from '../../infra/deploy/plan.ts';
import type { GcloudStep, Plan } from '../../infra/deploy/plan.ts';
import { formatSummary } from '../../infra/deploy/report.ts';
import { callsPerUser, sizeWorkerFleet } from '../../infra/deploy/fleet.ts';
import {
  APIS,
  DPOP_KMS_FUNCTIONS,
  SECRETS,
  SPEC_LABEL,
  TTL_COLLECTION_GROUPS,
} from '../../infra/deploy/resources.ts';
import { emptyState } from '../../infra/deploy/state.ts';
import { loadMonitoring, type MonitoringDefinitions } from '../../infra/monitoring/definitions.ts';
import { secretKeysOf } from '../../shared/settings/secrets.ts';
import type {
  DpopKeyState,
  FunctionState,
  IamPolicy,
  MonitoringState,
  ProjectState,
} from '../../infra/deploy/state.ts';

const PROJECT = 'demo-consent-vault';
const RULES = "rules_version = '2';\n";
const INDEXES = JSON.stringify({
  indexes: [
    {
      collectionGroup: 'connections',
      queryScope: 'COLLECTION',
      fields: [
        { fieldPath: 'status', order: 'ASCENDING' },
        { fieldPath: 'tags', arrayConfig: 'CONTAINS' },
      ],
    },
  ],
  fieldOverrides: [
    { collectionGroup: 'runs', fieldPath: 'expireAt', ttl: true, indexes: [] },
    { collectionGroup: 'audit', fieldPath: 'expireAt', ttl: true, indexes: [] },
  ],
});
const NUMBER = '424242';
const AGENT = pubsubAgent(NUMBER);
/** Reached by browsers, Google's consent redirect, email links and Google's security events. */
const PUBLIC = ['authorize', 'callback', 'revoke', 'risc'];
/** The functions that use Firestore and publish connection events. */
const STORING = ['callback', 'revoke', 'dispatcher', 'worker', 'risc'];
const sa = (name: string): string =>
  `serviceAccount:consent-vault-${name}@${PROJECT}.iam.gserviceaccount.com`;
/** The functions that open tokens, written out: the schema's TOKEN_KEYSET functions must match. */
const TOKEN_FUNCTIONS = ['callback', 'revoke', 'dispatcher', 'worker', 'risc'];
/** The functions that refresh or exchange tokens, written out: the schema's DPOP_KEYS functions. */
const DPOP_FUNCTIONS = ['callback', 'dispatcher', 'worker'];
const DPOP_SECRET = 'consent-vault-dpop-keys';
const FUNCTION_NAMES = ['authorize', 'callback', 'revoke', 'dispatcher', 'worker', 'risc'];
const KMS_KEY = `projects/${PROJECT}/locations/europe-west1/keyRings/consent-vault/cryptoKeys/token-keyset`;
const KMS_WHERE = `--project=${PROJECT} --keyring=consent-vault --location=europe-west1`;
const DPOP_KMS_KEY = `projects/${PROJECT}/locations/europe-west1/keyRings/consent-vault/cryptoKeys/consent-vault-dpop`;

/** The repository's dashboard and alerts (infra/monitoring/). */
function repositoryMonitoring(): MonitoringDefinitions {
  const loaded = loadMonitoring(new URL('../../infra/monitoring', import.meta.url).pathname);
  if (!loaded.ok) throw new Error(loaded.problems.join('\n'));
  return loaded.definitions;
}
const MONITORING = repositoryMonitoring();

function desiredFor(
  extraArgs: string[] = [],
  hashes: Record<string, string> = {},
  env: Record<string, string> = {},
): Desired {
  const parsed = parseArgs([
    '--project',
    PROJECT,
    '--region',
    'europe-west1',
    '--client-secret-file',
    '-',
    ...extraArgs,
  ]);
  if (!parsed.ok) throw new Error(parsed.problems.join());
  const built = buildDesired({
    options: parsed.options,
    envValues: {
      OAUTH_CLIENT_ID: 'id.apps.googleusercontent.com',
      REVOKE_CALLERS: 'a@b.iam.gserviceaccount.com,c@d.iam.gserviceaccount.com',
      ...env,
    },
    rulesSource: RULES,
    indexesJson: INDEXES,
    sourceHashes: {
      authorize: 'h1',
      callback: 'h2',
      revoke: 'h3',
      dispatcher: 'h4',
      worker: 'h5',
      risc: 'h6',
      ...hashes,
    },
    monitoring: MONITORING,
  });
  if (!built.ok) throw new Error(built.problems.join());
  return built.desired;
}

function kmsKeyOf(desired: Desired) {
  const { project, location, keyRing, key, name } = desired.kms;
  return { project, location, keyRing, key, name };
}

function gcloudSteps(plan: Plan): GcloudStep[] {
  return plan.steps.filter((step): step is GcloudStep => step.kind === 'gcloud');
}

function commandsOf(plan: Plan): string[] {
  return gcloudSteps(plan).map((step) => step.args.join(' '));
}

function flag(args: readonly string[], name: string): string | undefined {
  return args.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
}

/**
 * What a deploy of the dashboard and alerts leaves: each file as the API lists it back, with the
 * names, times and defaults the API adds of its own.
 */
function convergedMonitoring(desired: Desired): MonitoringState {
  const { metrics, dashboard, policies, alertEmail } = desired.monitoring;
  const channels = alertEmail === undefined ? [] : [{ id: '77', email: alertEmail }];
  return {
    metrics: Object.fromEntries(
      metrics.map(({ name, body }) => [
        name,
        {
          ...body,
          name,
          metricDescriptor: {
            ...(body.metricDescriptor as object),
            type: `logging.googleapis.com/user/${name}`,
          },
          createTime: '2026-11-20T10:00:00Z',
        },
      ]),
    ),
    dashboards: [
      {
        id: 'd1',
        displayName: dashboard.displayName,
        body: { ...dashboard.body, name: `projects/${NUMBER}/dashboards/d1`, etag: 'e1' },
      },
    ],
    policies: policies.map((policy, i) => ({
      id: `${i + 1}`,
      displayName: policy.displayName,
      body: {
        ...policy.body,
        name: `projects/${PROJECT}/alertPolicies/${i + 1}`,
        creationRecord: { mutateTime: '2026-11-20T10:00:00Z' },
      },
      channels: channels.map((channel) => channel.id),
    })),
    emailChannels: channels,
  };
}

/** The state a successful deploy of `desired` leaves behind. */
function converged(desired: Desired): ProjectState {
  const first = buildPlan(desired, { ...emptyState(), projectNumber: NUMBER });
  const labels = new Map<string, string>();
  for (const step of gcloudSteps(first))
    if (step.args[1] === 'deploy')
      labels.set(step.args[2] ?? '', (flag(step.args, 'update-labels') ?? '').split('=')[1] ?? '');
  const binding = (role: string, members: string[]) => ({ bindings: [{ role, members }] });
  const functions: Record<string, FunctionState> = {};
  for (const fn of desired.functions) {
    const name = fn.spec.name;
    functions[name] = {
      url: `https://europe-west1-${PROJECT}.cloudfunctions.net/${name}`,
      labels: { [SPEC_LABEL]: labels.get(name) ?? '' },
      serviceAccount: fn.serviceAccount,
      environment: {
        ...desired.env,
        ...(desired.dpop === 'kms' && DPOP_FUNCTIONS.includes(name)
          ? { DPOP_KMS_KEYS: `${DPOP_KMS_KEY}/cryptoKeyVersions/1` }
          : {}),
        LOG_EXECUTION_ID: 'true',
      },
      // With --no-dpop or --dpop-kms on a project without the DPoP secret, nothing mounts it.
      secrets: fn.spec.secrets
        .filter((key) => desired.dpop === 'secret' || key !== 'dpopKeys')
        .map((key) => ({
          key: SECRETS[key].env,
          secret: SECRETS[key].name,
          version: '1',
        })),
      triggerSubscription: fn.spec.trigger === 'http' ? undefined : `eventarc-${name}-sub`,
      runPolicy: binding('roles/run.invoker', [
        fn.spec.public ? 'allUsers' : `serviceAccount:${desired.schedulerAccount}`,
      ]),
    };
  }
  const triggerSub = {
    topic: undefined,
    deadLetterTopic: `projects/${PROJECT}/topics/consent-vault-dead-letter`,
    maxDeliveryAttempts: 5,
    minimumBackoff: '10s',
    maximumBackoff: '600.000s',
    policy: binding('roles/pubsub.subscriber', [AGENT]),
  };
  return {
    projectNumber: NUMBER,
    enabledServices: [...desired.apis, 'compute.googleapis.com'],
    projectPolicy: {
      bindings: [
        { role: 'roles/owner', members: ['user:owner@example.com'] },
        { role: 'roles/datastore.user', members: STORING.map(sa) },
      ],
    },
    serviceAccounts: Object.fromEntries(
      [...desired.functions.map((fn) => fn.spec.name), 'scheduler'].map((name) => [
        `consent-vault-${name}@${PROJECT}.iam.gserviceaccount.com`,
        {
          displayName:
            name === 'scheduler'
              ? 'consent-vault scheduled chain (tick and work delivery)'
              : `consent-vault ${name} function`,
        },
      ]),
    ),
    secrets: {
      'consent-vault-oauth-client-secret': {
        versions: [{ number: 1, state: 'ENABLED' }],
        policy: binding(
          'roles/secretmanager.secretAccessor',
          ['callback', 'dispatcher', 'worker'].map(sa),
        ),
      },
      'consent-vault-token-keyset': {
        versions: [{ number: 1, state: 'ENABLED' }],
        policy: binding('roles/secretmanager.secretAccessor', TOKEN_FUNCTIONS.map(sa)),
        content: { format: 'wrapped', purpose: 'token', kmsKey: KMS_KEY },
      },
      'consent-vault-cookie-keyset': {
        versions: [{ number: 1, state: 'ENABLED' }],
        policy: binding('roles/secretmanager.secretAccessor', ['authorize', 'callback'].map(sa)),
      },
      'consent-vault-link-keyset': {
        versions: [{ number: 1, state: 'ENABLED' }],
        policy: binding('roles/secretmanager.secretAccessor', [sa('revoke')]),
      },
      'consent-vault-connect-keyset': {
        versions: [{ number: 1, state: 'ENABLED' }],
        policy: binding('roles/secretmanager.secretAccessor', ['authorize', 'revoke'].map(sa)),
      },
      ...(desired.dpop === 'secret'
        ? {
            [DPOP_SECRET]: {
              versions: [{ number: 1, state: 'ENABLED' }],
              policy: binding('roles/secretmanager.secretAccessor', DPOP_FUNCTIONS.map(sa)),
            },
          }
        : {}),
    },
    kms: {
      keyRing: true,
      key: {
        purpose: 'ENCRYPT_DECRYPT',
        rotationPeriod: '7776000s',
        policy: binding('roles/cloudkms.cryptoKeyDecrypter', TOKEN_FUNCTIONS.map(sa)),
      },
      dpopKey:
        desired.dpop === 'kms'
          ? {
              purpose: 'ASYMMETRIC_SIGN',
              algorithm: 'EC_SIGN_P256_SHA256',
              protectionLevel: desired.dpopKms.protectionLevel.toUpperCase(),
              versions: [{ number: 1, state: 'ENABLED', algorithm: 'EC_SIGN_P256_SHA256' }],
              policy: {
                bindings: [
                  { role: 'roles/cloudkms.signer', members: DPOP_FUNCTIONS.map(sa) },
                  { role: 'roles/cloudkms.publicKeyViewer', members: DPOP_FUNCTIONS.map(sa) },
                ],
              },
            }
          : undefined,
    },
    topics: {
      'consent-vault-tick': { policy: binding('roles/pubsub.publisher', [sa('dispatcher')]) },
      'consent-vault-work': {
        policy: binding('roles/pubsub.publisher', [sa('dispatcher'), sa('worker')]),
      },
      'consent-vault-events': { policy: binding('roles/pubsub.publisher', STORING.map(sa)) },
      'consent-vault-dead-letter': { policy: binding('roles/pubsub.publisher', [AGENT]) },
    },
    subscriptions: {
      'consent-vault-dead-letter-sub': {
        ...triggerSub,
        deadLetterTopic: undefined,
        policy: { bindings: [] },
      },
      'eventarc-dispatcher-sub': triggerSub,
      'eventarc-worker-sub': triggerSub,
    },
    firestore: {
      database: { type: 'FIRESTORE_NATIVE', location: 'europe-west1' },
      indexes: parseIndexes(INDEXES, []),
      ttlFields: desired.ttlFields,
      exemptFields: desired.exemptFields,
      rulesSource: RULES,
    },
    functions,
    schedulerJob: {
      schedule: '0 3 * * *',
      timeZone: 'Etc/UTC',
      topic: `projects/${PROJECT}/topics/consent-vault-tick`,
      body: '{}',
    },
    monitoring: convergedMonitoring(desired),
  };
}

describe('buildPlan on an empty project', () => {
  const desired = desiredFor();
  const plan = buildPlan(desired, { ...emptyState(), projectNumber: NUMBER });
  const commands = commandsOf(plan);

  it('the committed firestore.indexes.json has a TTL policy for every expiring collection', () => {
    const file = JSON.parse(
      readFileSync(new URL('../../firestore.indexes.json', import.meta.url), 'utf8'),
    ) as {
      fieldOverrides: { collectionGroup: string; fieldPath: string; ttl?: boolean }[];
    };
    const ttl = file.fieldOverrides
      .filter((field) => field.ttl)
      .map((field) => field.collectionGroup);
    expect([...ttl].sort()).toEqual([...TTL_COLLECTION_GROUPS].sort());
  });

  it('creates every resource', () => {
    expect(plan.problems).toEqual([]);
    expect(commands.filter((c) => c.startsWith('iam service-accounts create'))).toHaveLength(7);
    expect(commands.filter((c) => c.startsWith('secrets create'))).toHaveLength(6);
    expect(commands.filter((c) => c.startsWith('kms '))).toHaveLength(2 + TOKEN_FUNCTIONS.length);
    expect(commands.filter((c) => c.startsWith('pubsub topics create'))).toHaveLength(4);
    expect(commands.filter((c) => c.startsWith('functions deploy'))).toHaveLength(6);
    expect(commands.filter((c) => c.startsWith('firestore fields ttls update'))).toHaveLength(
      TTL_COLLECTION_GROUPS.length + 1,
    );
    expect(commands.filter((c) => c.startsWith('firestore indexes fields update'))).toHaveLength(2);
    expect(commands.some((c) => c.startsWith('firestore databases create'))).toBe(true);
    expect(
      commands.some((c) => c.startsWith('scheduler jobs create pubsub consent-vault-tick')),
    ).toBe(true);
    expect(plan.steps.some((step) => step.kind === 'rules')).toBe(true);
    expect(commands).toContain(
      `firestore indexes composite create --project=${PROJECT} --collection-group=connections --query-scope=collection --field-config=field-path=status,order=ascending --field-config=field-path=tags,array-config=contains --database=(default) --async`,
    );
  });

  it('sends secret data only through stdin and names no value', () => {
    const creates = gcloudSteps(plan).filter(
      (s) => s.args[0] === 'secrets' && s.args[1] === 'create',
    );
    const generated = { kind: 'generated' };
    expect(creates.map((s) => [s.args[2], s.stdin, flag(s.args, 'data-file')])).toEqual([
      ['consent-vault-oauth-client-secret', { kind: 'client-secret' }, '-'],
      ...['cookie', 'link', 'connect'].map((purpose) => [
        `consent-vault-${purpose}-keyset`,
        { kind: 'keyset', purpose, source: generated },
        '-',
      ]),
      [DPOP_SECRET, { kind: 'dpop-keys' }, '-'],
      // Last: the token keyset, wrapped by the key the plan creates before it.
      [
        'consent-vault-token-keyset',
        { kind: 'keyset', purpose: 'token', source: generated, wrapWith: kmsKeyOf(desired) },
        '-',
      ],
    ]);
    const keyCreated = commands.findIndex((c) => c.startsWith('kms keys create'));
    const tokenCreated = commands.findIndex((c) =>
      c.startsWith('secrets create consent-vault-token-keyset'),
    );
    expect(keyCreated).toBeGreaterThan(-1);
    expect(keyCreated).toBeLessThan(tokenCreated);
  });

  it('grants project-level only roles/datastore.user, and only to the Firestore functions', () => {
    const projectGrants = gcloudSteps(plan).filter((s) => s.args[0] === 'projects');
    expect(projectGrants.map((s) => [flag(s.args, 'role'), flag(s.args, 'member')])).toEqual(
      STORING.map((n) => ['roles/datastore.user', sa(n)]),
    );
  });

  it('scopes every other grant to a named secret, topic, subscription or function', () => {
    const grants = gcloudSteps(plan)
      .filter(
        (s) => /-policy-binding$/.test(s.args[1] ?? '') || /-policy-binding$/.test(s.args[2] ?? ''),
      )
      .filter((s) => s.args[0] !== 'projects')
      .map((s) => {
        const verbAt = s.args.findIndex((a) => a.endsWith('-policy-binding'));
        return `${s.args.slice(0, verbAt).join(' ')} ${s.args[verbAt + 1] ?? ''} ${flag(s.args, 'role') ?? 'roles/run.invoker'} ${flag(s.args, 'member') ?? ''}`;
      })
      .sort();
    const readers = (keyset: string, names: string[]): string[] =>
      names.map(
        (n) => `secrets consent-vault-${keyset}-keyset roles/secretmanager.secretAccessor ${sa(n)}`,
      );
    expect(grants).toEqual(
      [
        ...['dispatcher', 'worker'].map(
          (n) =>
            `functions ${n} roles/run.invoker serviceAccount:consent-vault-scheduler@${PROJECT}.iam.gserviceaccount.com`,
        ),
        `pubsub subscriptions <trigger subscription of dispatcher> roles/pubsub.subscriber ${AGENT}`,
        `pubsub subscriptions <trigger subscription of worker> roles/pubsub.subscriber ${AGENT}`,
        `pubsub topics consent-vault-dead-letter roles/pubsub.publisher ${AGENT}`,
        ...STORING.map((n) => `pubsub topics consent-vault-events roles/pubsub.publisher ${sa(n)}`),
        `pubsub topics consent-vault-tick roles/pubsub.publisher ${sa('dispatcher')}`,
        `pubsub topics consent-vault-work roles/pubsub.publisher ${sa('dispatcher')}`,
        `pubsub topics consent-vault-work roles/pubsub.publisher ${sa('worker')}`,
        ...['callback', 'dispatcher', 'worker'].map(
          (n) =>
            `secrets consent-vault-oauth-client-secret roles/secretmanager.secretAccessor ${sa(n)}`,
        ),
        ...readers('token', TOKEN_FUNCTIONS),
        ...readers('cookie', ['authorize', 'callback']),
        ...readers('link', ['revoke']),
        ...readers('connect', ['authorize', 'revoke']),
        ...DPOP_FUNCTIONS.map(
          (n) => `secrets ${DPOP_SECRET} roles/secretmanager.secretAccessor ${sa(n)}`,
        ),
        ...TOKEN_FUNCTIONS.map(
          (n) => `kms keys token-keyset roles/cloudkms.cryptoKeyDecrypter ${sa(n)}`,
        ),
      ].sort(),
    );
  });

  it('makes only the browser-facing functions and risc public, with their own sizes', () => {
    const deploys = gcloudSteps(plan).filter((s) => s.args[1] === 'deploy');
    for (const step of deploys) {
      const name = step.args[2] ?? '';
      const isPublic = PUBLIC.includes(name);
      expect(step.args.includes('--allow-unauthenticated'), name).toBe(isPublic);
      expect(step.args.includes('--no-allow-unauthenticated'), name).toBe(!isPublic);
      expect(flag(step.args, 'ingress-settings'), name).toBe(isPublic ? 'all' : 'internal-only');
      expect(flag(step.args, 'runtime')).toBe('nodejs24');
      expect(flag(step.args, 'service-account')).toBe(sa(name).slice('serviceAccount:'.length));
      expect(step.args).toContain('--gen2');
    }
    const sizes: Record<string, string> = Object.fromEntries(
      deploys.map((s): [string, string] => [
        s.args[2] ?? '',
        ['memory', 'cpu', 'concurrency', 'max-instances', 'timeout']
          .map((f) => flag(s.args, f))
          .join(' '),
      ]),
    );
    expect(sizes).toEqual({
      authorize: '512Mi 1 80 10 30s',
      callback: '512Mi 1 40 10 60s',
      revoke: '512Mi 1 40 5 60s',
      dispatcher: '1Gi 1 1 2 540s',
      // Sized from the default call budget: 200 calls/s on each API, 2 calls per user.
      worker: '1Gi 1 4 2 540s',
      risc: '256Mi 1 10 3 60s',
    });
  });

  it('pins numeric secret versions per function, each only with the secrets it needs', () => {
    const secrets: Record<string, string | undefined> = Object.fromEntries(
      gcloudSteps(plan)
        .filter((s) => s.args[1] === 'deploy')
        .map((s): [string, string | undefined] => [s.args[2] ?? '', flag(s.args, 'set-secrets')]),
    );
    const mount = (...names: string[]): string =>
      names
        .map((name) => {
          const id = name === 'OAUTH_CLIENT_SECRET' ? 'oauth-client-secret' : name.toLowerCase();
          return `${name}=projects/${PROJECT}/secrets/consent-vault-${id.replace('_', '-')}:1`;
        })
        .join(',');
    expect(secrets).toEqual({
      authorize: mount('COOKIE_KEYSET', 'CONNECT_KEYSET'),
      callback: mount('OAUTH_CLIENT_SECRET', 'TOKEN_KEYSET', 'DPOP_KEYS', 'COOKIE_KEYSET'),
      revoke: mount('TOKEN_KEYSET', 'LINK_KEYSET', 'CONNECT_KEYSET'),
      dispatcher: mount('OAUTH_CLIENT_SECRET', 'TOKEN_KEYSET', 'DPOP_KEYS'),
      worker: mount('OAUTH_CLIENT_SECRET', 'TOKEN_KEYSET', 'DPOP_KEYS'),
      risc: mount('TOKEN_KEYSET'),
    });
  });

  it('sets the computed URLs and the project on every function', () => {
    for (const step of gcloudSteps(plan).filter((s) => s.args[1] === 'deploy')) {
      const env = flag(step.args, 'set-env-vars') ?? '';
      expect(env).toMatch(/^\^;\^/);
      const vars: Record<string, string | undefined> = Object.fromEntries(
        env
          .slice(3)
          .split(';')
          .map((p): [string, string] => {
            const eq = p.indexOf('=');
            return [p.slice(0, eq), p.slice(eq + 1)];
          }),
      );
      expect(vars).toMatchObject({
        GOOGLE_CLOUD_PROJECT: PROJECT,
        REDIRECT_URI: `https://europe-west1-${PROJECT}.cloudfunctions.net/callback`,
        AUTHORIZE_URL: `https://europe-west1-${PROJECT}.cloudfunctions.net/authorize`,
        REVOKE_URL: `https://europe-west1-${PROJECT}.cloudfunctions.net/revoke`,
        REVOKE_CALLERS: 'a@b.iam.gserviceaccount.com,c@d.iam.gserviceaccount.com',
      });
    }
  });

  it('defers only what names a resource the deploy itself creates', () => {
    const pending = gcloudSteps(plan).filter((s) => !isReady(s));
    expect(pending.map((s) => [s.pending, s.args.slice(0, 4).join(' ')])).toEqual([
      [
        'the trigger of dispatcher',
        'pubsub subscriptions update <trigger subscription of dispatcher>',
      ],
      [
        'the trigger of dispatcher',
        'pubsub subscriptions add-iam-policy-binding <trigger subscription of dispatcher>',
      ],
      ['the trigger of worker', 'pubsub subscriptions update <trigger subscription of worker>'],
      [
        'the trigger of worker',
        'pubsub subscriptions add-iam-policy-binding <trigger subscription of worker>',
      ],
      // Monitoring refuses a policy on a log-based metric it does not know yet.
      ['each log-based metric it reads', 'alpha monitoring policies create'],
      ['each log-based metric it reads', 'alpha monitoring policies create'],
    ]);
  });
});

describe('buildPlan on a converged project', () => {
  const desired = desiredFor();

  it('plans nothing', () => {
    const plan = buildPlan(desired, converged(desired));
    expect(plan.steps).toEqual([]);
    expect(plan.problems).toEqual([]);
  });

  it('redeploys only the function whose build changed', () => {
    const plan = buildPlan(desiredFor([], { worker: 'h5-changed' }), converged(desired));
    expect(commandsOf(plan).map((c) => c.split(' ').slice(0, 3).join(' '))).toEqual([
      'functions deploy worker',
    ]);
  });

  it('redeploys a function whose environment was changed outside the deploy', () => {
    const state = converged(desired);
    const callback = state.functions['callback'];
    if (!callback) throw new Error('missing');
    const drifted = {
      ...state,
      functions: {
        ...state.functions,
        callback: { ...callback, environment: { ...callback.environment, LOG_LEVEL: 'DEBUG' } },
      },
    };
    const plan = buildPlan(desired, drifted);
    expect(gcloudSteps(plan).map((s) => s.title)).toEqual([
      'Deploy function callback (environment changed outside the deploy)',
    ]);
  });

  it('makes a private function private again and re-grants a missing public binding', () => {
    const state = converged(desired);
    const fns = { ...state.functions };
    const dispatcher = fns['dispatcher'];
    const authorize = fns['authorize'];
    if (!dispatcher || !authorize) throw new Error('missing');
    fns['dispatcher'] = {
      ...dispatcher,
      runPolicy: {
        bindings: [
          {
            role: 'roles/run.invoker',
            members: ['allUsers', `serviceAccount:${desired.schedulerAccount}`],
          },
        ],
      },
    };
    fns['authorize'] = { ...authorize, runPolicy: { bindings: [] } };
    const plan = buildPlan(desired, { ...state, functions: fns });
    expect(commandsOf(plan)).toEqual([
      `functions add-invoker-policy-binding authorize --project=${PROJECT} --region=europe-west1 --member=allUsers`,
      `functions remove-invoker-policy-binding dispatcher --project=${PROJECT} --region=europe-west1 --member=allUsers`,
    ]);
  });

  it('pins the newest enabled secret version', () => {
    const state = converged(desired);
    const secret = state.secrets['consent-vault-oauth-client-secret'];
    if (!secret) throw new Error('missing');
    const plan = buildPlan(desired, {
      ...state,
      secrets: {
        ...state.secrets,
        'consent-vault-oauth-client-secret': {
          ...secret,
          versions: [
            { number: 1, state: 'ENABLED' },
            { number: 2, state: 'ENABLED' },
            { number: 3, state: 'DISABLED' },
          ],
        },
      },
    });
    const deploys = gcloudSteps(plan).filter((s) => s.args[1] === 'deploy');
    expect(deploys.map((s) => s.args[2])).toEqual(['callback', 'dispatcher', 'worker']);
    for (const step of deploys)
      expect(flag(step.args, 'set-secrets')).toContain('consent-vault-oauth-client-secret:2');
  });

  it('adds a client-secret version on --rotate-client-secret and pins the next number', () => {
    const plan = buildPlan(desiredFor(['--rotate-client-secret']), converged(desired));
    const steps = gcloudSteps(plan);
    expect(steps[0]?.args.slice(0, 4)).toEqual([
      'secrets',
      'versions',
      'add',
      'consent-vault-oauth-client-secret',
    ]);
    expect(steps[0]?.stdin).toEqual({ kind: 'client-secret' });
    expect(flag(steps[1]?.args ?? [], 'set-secrets')).toContain(
      'consent-vault-oauth-client-secret:2',
    );
  });

  it('never replaces a keyset that has no enabled version', () => {
    const state = converged(desired);
    const plan = buildPlan(desired, {
      ...state,
      secrets: {
        ...state.secrets,
        'consent-vault-token-keyset': {
          versions: [{ number: 1, state: 'DISABLED' }],
          policy: { bindings: [] },
        },
      },
    });
    expect(plan.problems.join()).toContain('consent-vault-token-keyset has no enabled version');
    expect(gcloudSteps(plan).some((s) => s.stdin?.kind === 'keyset')).toBe(false);
  });

  it('refuses a Datastore-mode database', () => {
    const state = converged(desired);
    const plan = buildPlan(desired, {
      ...state,
      firestore: { ...state.firestore, database: { type: 'DATASTORE_MODE', location: 'eur3' } },
    });
    expect(plan.problems.join()).toContain('DATASTORE_MODE');
  });

  it('updates the scheduler job when the schedule or time zone changes', () => {
    const plan = buildPlan(
      desiredFor(['--schedule', '0 5 * * *', '--time-zone', 'Europe/Paris']),
      converged(desired),
    );
    expect(commandsOf(plan)).toEqual([
      `scheduler jobs update pubsub consent-vault-tick --project=${PROJECT} --location=europe-west1 --schedule=0 5 * * * --time-zone=Europe/Paris --topic=projects/${PROJECT}/topics/consent-vault-tick --message-body={}`,
    ]);
  });

  it("repoints a scheduler job that publishes to another project's topic", () => {
    const state = converged(desired);
    const job = state.schedulerJob;
    if (!job) throw new Error('missing');
    const plan = buildPlan(desired, {
      ...state,
      schedulerJob: { ...job, topic: 'projects/operators-default/topics/consent-vault-tick' },
    });
    expect(commandsOf(plan)).toEqual([
      `scheduler jobs update pubsub consent-vault-tick --project=${PROJECT} --location=europe-west1 --schedule=0 3 * * * --time-zone=Etc/UTC --topic=projects/${PROJECT}/topics/consent-vault-tick --message-body={}`,
    ]);
  });

  it('configures a trigger subscription that lost its dead-letter policy', () => {
    const state = converged(desired);
    const sub = state.subscriptions['eventarc-worker-sub'];
    if (!sub) throw new Error('missing');
    const plan = buildPlan(desired, {
      ...state,
      subscriptions: {
        ...state.subscriptions,
        'eventarc-worker-sub': { ...sub, deadLetterTopic: undefined },
      },
    });
    expect(commandsOf(plan)).toEqual([
      `pubsub subscriptions update eventarc-worker-sub --project=${PROJECT} --dead-letter-topic=projects/${PROJECT}/topics/consent-vault-dead-letter --max-delivery-attempts=5 --min-retry-delay=10s --max-retry-delay=600s`,
    ]);
  });
});

describe('the risc function: public, verified in code, only the grants the schema gives it', () => {
  const desired = desiredFor();
  const plan = buildPlan(desired, { ...emptyState(), projectNumber: NUMBER });
  const steps = gcloudSteps(plan);
  const risc = sa('risc');
  const deploy = steps.find((s) => s.args[1] === 'deploy' && s.args[2] === 'risc');
  const args = deploy?.args ?? [];
  const URL = `https://europe-west1-${PROJECT}.cloudfunctions.net/risc`;

  it('deploys it as a public HTTP function on its own account, like callback', () => {
    expect(args.slice(0, 4)).toEqual(['functions', 'deploy', 'risc', `--project=${PROJECT}`]);
    for (const expected of [
      '--gen2',
      '--runtime=nodejs24',
      '--entry-point=risc',
      '--trigger-http',
      '--allow-unauthenticated',
      '--ingress-settings=all',
      '--min-instances=0',
      `--service-account=${risc.slice('serviceAccount:'.length)}`,
    ])
      expect(args).toContain(expected);
    expect(args).not.toContain('--no-allow-unauthenticated');
    expect(flag(args, 'source')).toMatch(/\/risc$/);
    expect(desired.apis).toContain('risc.googleapis.com');
    expect(commandsOf(plan).find((c) => c.startsWith('services enable'))).toContain(
      ' risc.googleapis.com ',
    );
  });

  it('mounts TOKEN_KEYSET only: no client secret, no cookie, link or connect keys', () => {
    expect(secretKeysOf('risc')).toEqual(['tokenKeyset']);
    expect(flag(args, 'set-secrets')).toBe(
      `TOKEN_KEYSET=projects/${PROJECT}/secrets/consent-vault-token-keyset:1`,
    );
    expect(flag(args, 'set-env-vars')).toContain(';OAUTH_CLIENT_ID=id.apps.googleusercontent.com;');
  });

  it("grants its account exactly the schema's: Firestore, events, the token keyset and its key", () => {
    const held = steps
      .filter((s) => flag(s.args, 'member') === risc)
      .map((s) => {
        const verbAt = s.args.findIndex((a) => a.endsWith('-policy-binding'));
        return `${s.args.slice(0, verbAt).join(' ')} ${s.args[verbAt + 1] ?? ''} ${flag(s.args, 'role') ?? ''}`;
      });
    // Derived from the schema as the deploy derives it, then written out.
    const fromSchema = [
      `projects ${PROJECT} roles/datastore.user`,
      'pubsub topics consent-vault-events roles/pubsub.publisher',
      ...secretKeysOf('risc').map(
        (key) => `secrets ${SECRETS[key].name} roles/secretmanager.secretAccessor`,
      ),
      ...(secretKeysOf('risc').includes('tokenKeyset')
        ? ['kms keys token-keyset roles/cloudkms.cryptoKeyDecrypter']
        : []),
    ];
    expect(held.sort()).toEqual(fromSchema.sort());
    expect(held).toEqual(
      [
        'kms keys token-keyset roles/cloudkms.cryptoKeyDecrypter',
        `projects ${PROJECT} roles/datastore.user`,
        'pubsub topics consent-vault-events roles/pubsub.publisher',
        'secrets consent-vault-token-keyset roles/secretmanager.secretAccessor',
      ].sort(),
    );
    // Nobody is made an invoker of it: --allow-unauthenticated is the one binding.
    expect(steps.some((s) => s.args[2] === 'risc' && s.args[1]?.endsWith('-policy-binding'))).toBe(
      false,
    );
  });

  it('makes a converged risc public again when its allUsers binding went missing', () => {
    const state = converged(desired);
    const observed = state.functions['risc'];
    if (!observed) throw new Error('missing');
    const next = buildPlan(desired, {
      ...state,
      functions: { ...state.functions, risc: { ...observed, runPolicy: { bindings: [] } } },
    });
    expect(commandsOf(next)).toEqual([
      `functions add-invoker-policy-binding risc --project=${PROJECT} --region=europe-west1 --member=allUsers`,
    ]);
  });

  it('adds just risc to a project deployed before it existed', () => {
    const state = converged(desired);
    const without = (policy: IamPolicy): IamPolicy => ({
      bindings: policy.bindings.map((b) => ({
        ...b,
        members: b.members.filter((m) => m !== risc),
      })),
    });
    const key = state.kms.key;
    if (!key) throw new Error('missing');
    const before: ProjectState = {
      ...state,
      enabledServices: state.enabledServices.filter((api) => api !== 'risc.googleapis.com'),
      projectPolicy: without(state.projectPolicy),
      serviceAccounts: Object.fromEntries(
        Object.entries(state.serviceAccounts).filter(([email]) => !risc.endsWith(email)),
      ),
      secrets: Object.fromEntries(
        Object.entries(state.secrets).map(([name, s]) => [
          name,
          { ...s, policy: without(s.policy) },
        ]),
      ),
      kms: { ...state.kms, key: { ...key, policy: without(key.policy) } },
      topics: Object.fromEntries(
        Object.entries(state.topics).map(([name, t]) => [name, { policy: without(t.policy) }]),
      ),
      firestore: {
        ...state.firestore,
        ttlFields: state.firestore.ttlFields.filter((f) => f.collectionGroup !== 'securityEvents'),
      },
      functions: Object.fromEntries(
        Object.entries(state.functions).filter(([name]) => name !== 'risc'),
      ),
    };
    expect(gcloudSteps(buildPlan(desired, before)).map((s) => s.title)).toEqual([
      'Enable the APIs',
      'Create service account consent-vault-risc',
      `Let consent-vault-risc@${PROJECT}.iam.gserviceaccount.com decrypt with Cloud KMS key token-keyset`,
      `Let consent-vault-risc@${PROJECT}.iam.gserviceaccount.com read secret consent-vault-token-keyset`,
      'Expire securityEvents documents at expireAt (TTL policy)',
      `Let consent-vault-risc@${PROJECT}.iam.gserviceaccount.com publish to consent-vault-events`,
      'Let the risc function use Firestore',
      'Deploy function risc (create)',
    ]);
  });

  it('prints its URL and the registration of the stream, with a riscconfigs.admin account', () => {
    const summary = formatSummary(desired, undefined);
    expect(summary).toContain(`  risc       ${URL}  (public)`);
    const lines = summary.split('\n');
    const start = lines.findIndex((line) => line.startsWith('  5. Register the Cross-Account'));
    expect(start).toBeGreaterThan(-1);
    const account = `consent-vault-risc-admin@${PROJECT}.iam.gserviceaccount.com`;
    expect(lines.slice(start + 1, start + 6).map((line) => line.trim())).toEqual([
      `gcloud iam service-accounts create consent-vault-risc-admin --project=${PROJECT}`,
      `gcloud projects add-iam-policy-binding ${PROJECT} --member=serviceAccount:${account} --role=roles/riscconfigs.admin --condition=None`,
      `gcloud iam service-accounts keys create risc-admin-key.json --project=${PROJECT} --iam-account=${account}`,
      `RISC_SERVICE_ACCOUNT_KEY_FILE=risc-admin-key.json npm run risc -- register --url ${URL}`,
      'RISC_SERVICE_ACCOUNT_KEY_FILE=risc-admin-key.json npm run risc -- verify   # the risc function logs "RISC verification event"',
    ]);
    // The deploy itself creates no such account and grants no riscconfigs role.
    expect(commandsOf(plan).join('\n')).not.toContain('risc-admin');
    expect(commandsOf(plan).join('\n')).not.toContain('riscconfigs');
  });
});

describe('key custody: one keyset per purpose, the token keyset wrapped by Cloud KMS', () => {
  const desired = desiredFor();
  const empty = { ...emptyState(), projectNumber: NUMBER };
  const plan = buildPlan(desired, empty);
  const authorize = sa('authorize');
  const roleOf = (step: GcloudStep): string | undefined => flag(step.args, 'role');

  it('derives the decrypters from the schema: exactly the functions that hold TOKEN_KEYSET', () => {
    const tokenHolders = desired.functions
      .filter((fn) => fn.spec.secrets.includes('tokenKeyset'))
      .map((fn) => fn.spec.name);
    expect(tokenHolders).toEqual(TOKEN_FUNCTIONS);
  });

  it('creates the key ring and the 90-day key, then lets only the token functions decrypt', () => {
    expect(commandsOf(plan).filter((c) => c.startsWith('kms '))).toEqual([
      `kms keyrings create consent-vault --project=${PROJECT} --location=europe-west1`,
      `kms keys create token-keyset ${KMS_WHERE} --purpose=encryption --rotation-period=90d --next-rotation-time=+P90D`,
      ...TOKEN_FUNCTIONS.map(
        (n) =>
          `kms keys add-iam-policy-binding token-keyset ${KMS_WHERE} --member=${sa(n)} --role=roles/cloudkms.cryptoKeyDecrypter`,
      ),
    ]);
    expect(desired.apis).toContain('cloudkms.googleapis.com');
  });

  it('mounts only COOKIE_KEYSET and CONNECT_KEYSET on authorize, and grants it nothing else', () => {
    const deploy = gcloudSteps(plan).find(
      (s) => s.args[1] === 'deploy' && s.args[2] === 'authorize',
    );
    const mounted = (flag(deploy?.args ?? [], 'set-secrets') ?? '')
      .split(',')
      .map((m) => m.split('=')[0]);
    expect(mounted).toEqual(['COOKIE_KEYSET', 'CONNECT_KEYSET']);
    const toAuthorize = gcloudSteps(plan).filter((s) => flag(s.args, 'member') === authorize);
    expect(toAuthorize.map((s) => `${s.args[0]} ${s.args[2]} ${roleOf(s)}`).sort()).toEqual([
      'secrets consent-vault-connect-keyset roles/secretmanager.secretAccessor',
      'secrets consent-vault-cookie-keyset roles/secretmanager.secretAccessor',
    ]);
    expect(toAuthorize.some((s) => s.args[0] === 'kms')).toBe(false);
  });

  it('takes the token keyset away from an authorize that held it under the one-keyset model', () => {
    const state = converged(desired);
    const token = state.secrets['consent-vault-token-keyset'];
    const key = state.kms.key;
    if (!token || !key) throw new Error('missing');
    const other = 'user:auditor@example.com';
    const before = {
      ...state,
      secrets: {
        ...state.secrets,
        'consent-vault-token-keyset': {
          ...token,
          policy: {
            bindings: [
              {
                role: 'roles/secretmanager.secretAccessor',
                members: [...TOKEN_FUNCTIONS.map(sa), authorize, other],
              },
            ],
          },
        },
      },
      kms: {
        ...state.kms,
        key: {
          ...key,
          policy: {
            bindings: [
              {
                role: 'roles/cloudkms.cryptoKeyDecrypter',
                members: [...TOKEN_FUNCTIONS.map(sa), authorize],
              },
            ],
          },
        },
      },
    };
    const next = buildPlan(desired, before);
    expect(commandsOf(next)).toEqual([
      `kms keys remove-iam-policy-binding token-keyset ${KMS_WHERE} --member=${authorize} --role=roles/cloudkms.cryptoKeyDecrypter`,
      `secrets remove-iam-policy-binding consent-vault-token-keyset --project=${PROJECT} --member=${authorize} --role=roles/secretmanager.secretAccessor`,
    ]);
    // Someone else's access is the operator's to judge: noted, left alone.
    expect(next.notes).toContain(
      `secret consent-vault-token-keyset: roles/secretmanager.secretAccessor also held by ${other} (not granted by this deploy)`,
    );
  });

  it('a converged project plans nothing (the wrapped keyset, the key and its grants observed)', () => {
    const next = buildPlan(desired, converged(desired));
    expect(next.steps).toEqual([]);
    expect(next.notes.filter((note) => /keyset|KMS/.test(note))).toEqual([]);
  });

  it('sets the rotation of a key that lost it, and refuses a key of another purpose', () => {
    const state = converged(desired);
    const key = state.kms.key;
    if (!key) throw new Error('missing');
    const unrotated = buildPlan(desired, {
      ...state,
      kms: { ...state.kms, key: { ...key, rotationPeriod: undefined } },
    });
    expect(commandsOf(unrotated)).toEqual([
      `kms keys update token-keyset ${KMS_WHERE} --rotation-period=90d --next-rotation-time=+P90D`,
    ]);
    const signing = buildPlan(desired, {
      ...state,
      kms: { ...state.kms, key: { ...key, purpose: 'ASYMMETRIC_SIGN' } },
    });
    expect(signing.problems).toEqual([
      `Cloud KMS key ${KMS_KEY} has purpose ASYMMETRIC_SIGN; the token keyset needs a symmetric encryption key`,
    ]);
  });

  it('refuses a token keyset wrapped by another key (another --kms-location)', () => {
    const next = buildPlan(desiredFor(['--kms-location', 'europe-west4']), converged(desired));
    expect(next.problems).toEqual([
      `secret consent-vault-token-keyset is wrapped by Cloud KMS key ${KMS_KEY}, not ${KMS_KEY.replace('europe-west1', 'europe-west4')}: pass the --kms-location it was made with`,
    ]);
  });

  it('wraps a raw token keyset left by --no-kms, then disables the raw version', () => {
    const state = converged(desired);
    const token = state.secrets['consent-vault-token-keyset'];
    if (!token) throw new Error('missing');
    const next = buildPlan(desired, {
      ...state,
      secrets: {
        ...state.secrets,
        'consent-vault-token-keyset': {
          ...token,
          content: { format: 'purpose', purpose: 'token' },
        },
      },
    });
    const steps = gcloudSteps(next);
    expect(steps[0]?.args.slice(0, 4).join(' ')).toBe(
      'secrets versions add consent-vault-token-keyset',
    );
    expect(steps[0]?.stdin).toEqual({
      kind: 'keyset',
      purpose: 'token',
      source: { kind: 'stored', secret: 'consent-vault-token-keyset', version: 1 },
      wrapWith: kmsKeyOf(desired),
    });
    const deploys = steps.filter((s) => s.args[1] === 'deploy').map((s) => s.args[2]);
    expect(deploys).toEqual(TOKEN_FUNCTIONS);
    expect(steps.at(-1)?.args.join(' ')).toBe(
      `secrets versions disable 1 --project=${PROJECT} --secret=consent-vault-token-keyset`,
    );
  });
});

describe('--no-kms: a raw token keyset, reported as the weaker choice', () => {
  const desired = desiredFor(['--no-kms']);
  const plan = buildPlan(desired, { ...emptyState(), projectNumber: NUMBER });

  it('creates no key ring, key or KMS grant, and enables no Cloud KMS', () => {
    expect(commandsOf(plan).filter((c) => c.startsWith('kms '))).toEqual([]);
    expect(desired.apis).not.toContain('cloudkms.googleapis.com');
    const token = gcloudSteps(plan).find((s) => s.args[2] === 'consent-vault-token-keyset');
    expect(token?.stdin).toEqual({
      kind: 'keyset',
      purpose: 'token',
      source: { kind: 'generated' },
    });
  });

  it('names the choice weaker in the summary; the default names the wrapping key', () => {
    expect(formatSummary(desired, undefined)).toContain(
      'WARNING: --no-kms: the token keyset is stored unwrapped, the weaker choice',
    );
    const wrapped = formatSummary(desiredFor(), undefined);
    expect(wrapped).not.toContain('WARNING: --no-kms');
    expect(wrapped).toContain(
      `The token keyset is wrapped by Cloud KMS key ${KMS_KEY} (rotated every 90d); only callback, revoke, dispatcher, worker, risc may decrypt with it.`,
    );
  });

  it('never unwraps a keyset already wrapped, and keeps its decrypt grants', () => {
    const state = converged(desiredFor());
    const next = buildPlan(desired, state);
    expect(next.problems).toEqual([]);
    expect(commandsOf(next).filter((c) => !c.startsWith('functions deploy'))).toEqual([]);
    expect(next.notes).toContain(
      `secret consent-vault-token-keyset stays wrapped by Cloud KMS key ${KMS_KEY}: --no-kms never unwraps a keyset`,
    );
  });
});

describe('DPoP keys: bind refresh tokens, held only by the functions that refresh', () => {
  const desired = desiredFor();
  const empty = { ...emptyState(), projectNumber: NUMBER };
  const plan = buildPlan(desired, empty);
  const steps = gcloudSteps(plan);
  const mountsOf = (p: Plan, name: string): string[] =>
    (
      flag(
        gcloudSteps(p).find((s) => s.args[1] === 'deploy' && s.args[2] === name)?.args ?? [],
        'set-secrets',
      ) ?? ''
    )
      .split(',')
      .filter((m) => m.startsWith('DPOP_KEYS='));
  const dpopGrants = (p: Plan): string[] =>
    gcloudSteps(p)
      .filter((s) => s.args[0] === 'secrets' && s.args[1]?.endsWith('-policy-binding'))
      .filter((s) => s.args[2] === DPOP_SECRET)
      .map((s) => `${s.args[1]} ${flag(s.args, 'member')} ${flag(s.args, 'role')}`);

  it('the schema gives DPOP_KEYS to callback, dispatcher and worker, and no one else', () => {
    const holders = desired.functions
      .filter((fn) => fn.spec.secrets.includes('dpopKeys'))
      .map((fn) => fn.spec.name);
    expect(holders).toEqual(DPOP_FUNCTIONS);
    expect(SECRETS.dpopKeys).toEqual({ name: DPOP_SECRET, env: 'DPOP_KEYS' });
  });

  it('creates the secret from a key generated at apply time, named by the step, never held', () => {
    const create = steps.filter(
      (s) => s.args.slice(0, 3).join(' ') === `secrets create ${DPOP_SECRET}`,
    );
    expect(create.map((s) => [s.title, s.args, s.stdin])).toEqual([
      [
        `Create secret ${DPOP_SECRET} from a newly generated ES256 DPoP key (binds refresh tokens)`,
        [
          'secrets',
          'create',
          DPOP_SECRET,
          `--project=${PROJECT}`,
          '--replication-policy=automatic',
          '--data-file=-',
        ],
        { kind: 'dpop-keys' },
      ],
    ]);
  });

  it('lets exactly callback, dispatcher and worker read it, and mounts it only there', () => {
    expect(dpopGrants(plan)).toEqual(
      DPOP_FUNCTIONS.map(
        (n) => `add-iam-policy-binding ${sa(n)} roles/secretmanager.secretAccessor`,
      ),
    );
    for (const name of DPOP_FUNCTIONS)
      expect(mountsOf(plan, name), name).toEqual([
        `DPOP_KEYS=projects/${PROJECT}/secrets/${DPOP_SECRET}:1`,
      ]);
    for (const name of ['authorize', 'revoke', 'risc']) {
      expect(mountsOf(plan, name), name).toEqual([]);
      expect(
        steps.filter((s) => s.args[2] === DPOP_SECRET && flag(s.args, 'member') === sa(name)),
        name,
      ).toEqual([]);
    }
  });

  it('a converged project plans nothing', () => {
    const next = buildPlan(desired, converged(desired));
    expect(next.steps).toEqual([]);
    expect(next.notes.filter((note) => /dpop/i.test(note))).toEqual([]);
  });

  it('reuses an existing secret, never regenerated: pins its newest enabled version', () => {
    const state = converged(desired);
    const next = buildPlan(desired, {
      ...state,
      secrets: {
        ...state.secrets,
        [DPOP_SECRET]: {
          versions: [
            { number: 1, state: 'ENABLED' },
            { number: 2, state: 'ENABLED' },
          ],
          policy: state.secrets[DPOP_SECRET]?.policy ?? { bindings: [] },
        },
      },
    });
    expect(gcloudSteps(next).some((s) => s.stdin?.kind === 'dpop-keys')).toBe(false);
    expect(gcloudSteps(next).map((s) => s.args.slice(0, 3).join(' '))).toEqual(
      DPOP_FUNCTIONS.map((n) => `functions deploy ${n}`),
    );
    for (const name of DPOP_FUNCTIONS)
      expect(mountsOf(next, name)).toEqual([
        `DPOP_KEYS=projects/${PROJECT}/secrets/${DPOP_SECRET}:2`,
      ]);
  });

  it('refuses a secret with no enabled version instead of replacing it', () => {
    const state = converged(desired);
    const next = buildPlan(desired, {
      ...state,
      secrets: {
        ...state.secrets,
        [DPOP_SECRET]: { versions: [{ number: 1, state: 'DISABLED' }], policy: { bindings: [] } },
      },
    });
    expect(next.problems).toEqual([
      `secret ${DPOP_SECRET} has no enabled version: enable one (refresh tokens bound to its keys refresh only with them)`,
    ]);
    expect(gcloudSteps(next).some((s) => s.stdin?.kind === 'dpop-keys')).toBe(false);
  });

  it('takes the DPoP keys away from a function of this deployment the schema does not give them', () => {
    const state = converged(desired);
    const next = buildPlan(desired, {
      ...state,
      secrets: {
        ...state.secrets,
        [DPOP_SECRET]: {
          versions: [{ number: 1, state: 'ENABLED' }],
          policy: {
            bindings: [
              {
                role: 'roles/secretmanager.secretAccessor',
                members: [...DPOP_FUNCTIONS, 'risc'].map(sa),
              },
            ],
          },
        },
      },
    });
    expect(commandsOf(next)).toEqual([
      `secrets remove-iam-policy-binding ${DPOP_SECRET} --project=${PROJECT} --member=${sa('risc')} --role=roles/secretmanager.secretAccessor`,
    ]);
  });

  it('names the secret and its holders in the summary, without a warning', () => {
    const summary = formatSummary(desired, undefined);
    expect(summary).toContain(
      `DPoP mode secret: refresh tokens are bound to the keys in DPOP_KEYS (secret ${DPOP_SECRET}); only callback, dispatcher, worker hold them`,
    );
    expect(summary).not.toContain('--no-dpop');
  });
});

describe('--no-dpop: no DPoP keys, reported as the weaker choice', () => {
  const desired = desiredFor(['--no-dpop']);
  const plan = buildPlan(desired, { ...emptyState(), projectNumber: NUMBER });

  it('creates no DPoP secret, grants and mounts nothing of it', () => {
    expect(plan.problems).toEqual([]);
    expect(commandsOf(plan).filter((c) => c.includes('dpop'))).toEqual([]);
    expect(gcloudSteps(plan).some((s) => s.stdin?.kind === 'dpop-keys')).toBe(false);
    for (const step of gcloudSteps(plan).filter((s) => s.args[1] === 'deploy'))
      expect(flag(step.args, 'set-secrets')).not.toContain('DPOP_KEYS');
    // The other secrets are as without the flag.
    expect(commandsOf(plan).filter((c) => c.startsWith('secrets create'))).toHaveLength(5);
  });

  it('a converged project without DPoP keys plans nothing', () => {
    const next = buildPlan(desired, converged(desired));
    expect(next.steps).toEqual([]);
    expect(next.notes.filter((note) => /dpop/i.test(note))).toEqual([]);
  });

  it('names the choice weaker in the summary', () => {
    expect(formatSummary(desired, undefined)).toContain(
      'WARNING: --no-dpop: DPoP mode off, the weaker choice: a stolen refresh token together with the token keyset could be refreshed.',
    );
    expect(formatSummary(desiredFor(), undefined)).not.toContain('WARNING: --no-dpop');
  });

  it('keeps an existing secret mounted and granted: refresh tokens bound to its keys need them', () => {
    const state = converged(desiredFor());
    const next = buildPlan(desired, state);
    expect(next.steps).toEqual([]);
    expect(next.notes.filter((note) => /dpop/i.test(note))).toEqual([
      `secret ${DPOP_SECRET} exists: --no-dpop keeps it mounted (refresh tokens bound to its keys refresh only with them)`,
    ]);
    expect(formatSummary(desired, state)).not.toContain('WARNING: --no-dpop');
  });
});

describe('--dpop-kms: the DPoP key in Cloud KMS, its private key never leaving it', () => {
  const desired = desiredFor(['--dpop-kms']);
  const empty = { ...emptyState(), projectNumber: NUMBER };
  const plan = buildPlan(desired, empty);
  const KEY = 'consent-vault-dpop';
  const version = (n: number): string => `${DPOP_KMS_KEY}/cryptoKeyVersions/${n}`;
  const ES256 = 'EC_SIGN_P256_SHA256';
  const deployOf = (p: Plan, name: string): GcloudStep | undefined =>
    gcloudSteps(p).find((s) => s.args[1] === 'deploy' && s.args[2] === name);
  /** A function's environment, read back from its --set-env-vars (envVarsArg's format). */
  const envOf = (p: Plan, name: string): Record<string, string> => {
    const arg = flag(deployOf(p, name)?.args ?? [], 'set-env-vars') ?? '';
    const delimiter = arg.slice(1, 2);
    return Object.fromEntries(
      arg
        .slice(3)
        .split(delimiter)
        .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
    );
  };
  const onKey = (p: Plan): string[] =>
    commandsOf(p).filter((c) => c.startsWith('kms ') && c.split(' ')[3] === KEY);
  const withKey = (state: ProjectState, key: Partial<DpopKeyState>): ProjectState => {
    const base = state.kms.dpopKey;
    if (!base) throw new Error('no DPoP key in the state');
    return { ...state, kms: { ...state.kms, dpopKey: { ...base, ...key } } };
  };
  const versions = (...list: [number, string][]): DpopKeyState['versions'] =>
    list.map(([number, state]) => ({ number, state, algorithm: ES256 }));

  it('the schema gives DPOP_KMS_KEYS to callback, dispatcher and worker, and no one else', () => {
    expect(DPOP_KMS_FUNCTIONS).toEqual(DPOP_FUNCTIONS);
  });

  it('creates an ES256 signing key in the ring, then lets exactly the DPoP functions sign and read its public keys', () => {
    expect(plan.problems).toEqual([]);
    expect(onKey(plan)).toEqual([
      `kms keys create ${KEY} ${KMS_WHERE} --purpose=asymmetric-signing --default-algorithm=ec-sign-p256-sha256 --protection-level=software`,
      ...['roles/cloudkms.signer', 'roles/cloudkms.publicKeyViewer'].flatMap((role) =>
        DPOP_FUNCTIONS.map(
          (n) =>
            `kms keys add-iam-policy-binding ${KEY} ${KMS_WHERE} --member=${sa(n)} --role=${role}`,
        ),
      ),
    ]);
    // In the ring the token keyset's key lives in, created once; no grant beyond the key.
    expect(commandsOf(plan).filter((c) => c.startsWith('kms keyrings create'))).toHaveLength(1);
    const kmsRoles = gcloudSteps(plan)
      .filter((s) => /cloudkms\.(signer|publicKeyViewer|signerVerifier)/.test(s.args.join(' ')))
      .map((s) => s.args.slice(0, 4).join(' '));
    expect(new Set(kmsRoles)).toEqual(new Set([`kms keys add-iam-policy-binding ${KEY}`]));
    for (const name of ['authorize', 'revoke', 'risc'])
      expect(
        gcloudSteps(plan).filter((s) => s.args[3] === KEY && flag(s.args, 'member') === sa(name)),
        name,
      ).toEqual([]);
  });

  it('sets DPOP_KMS_KEYS on the DPoP functions only, creates no DPoP secret and mounts none', () => {
    for (const name of DPOP_FUNCTIONS)
      expect(envOf(plan, name)['DPOP_KMS_KEYS'], name).toBe(version(1));
    for (const name of ['authorize', 'revoke', 'risc'])
      expect(envOf(plan, name), name).not.toHaveProperty('DPOP_KMS_KEYS');
    expect(commandsOf(plan).filter((c) => c.includes(DPOP_SECRET))).toEqual([]);
    for (const name of FUNCTION_NAMES)
      expect(flag(deployOf(plan, name)?.args ?? [], 'set-secrets')).not.toContain('DPOP_KEYS');
    // The rest of the environment is every function's.
    expect(envOf(plan, 'worker')).toEqual({
      ...envOf(plan, 'revoke'),
      DPOP_KMS_KEYS: version(1),
    });
  });

  it('a converged project plans nothing, and a second plan re-creates nothing', () => {
    const next = buildPlan(desired, converged(desired));
    expect(next.steps).toEqual([]);
    expect(next.problems).toEqual([]);
    expect(next.notes.filter((note) => /dpop/i.test(note))).toEqual([]);
  });

  it('a version the operator adds binds new tokens: every enabled version, newest first, on the DPoP functions only', () => {
    const state = withKey(
      converged(desired),
      // Listed in any order; disabled and destroyed versions sign nothing, one being generated
      // is enabled by Cloud KMS within moments.
      {
        versions: versions(
          [3, 'ENABLED'],
          [1, 'ENABLED'],
          [4, 'DESTROYED'],
          [2, 'DISABLED'],
          [5, 'PENDING_GENERATION'],
        ),
      },
    );
    const next = buildPlan(desired, state);
    expect(next.problems).toEqual([]);
    expect(commandsOf(next).map((c) => c.split(' ').slice(0, 3).join(' '))).toEqual(
      DPOP_FUNCTIONS.map((n) => `functions deploy ${n}`),
    );
    for (const name of DPOP_FUNCTIONS)
      expect(envOf(next, name)['DPOP_KMS_KEYS'], name).toBe(
        [version(5), version(3), version(1)].join(','),
      );
    expect(formatSummary(desired, state)).toContain(
      `DPoP mode kms: new refresh tokens are bound to Cloud KMS key ${DPOP_KMS_KEY} (version 5; versions 3, 1 still refresh the tokens bound to them; SOFTWARE)`,
    );
  });

  it('refuses a key with no enabled version, a key that is not ES256 and an enabled version that is not', () => {
    const state = converged(desired);
    const none = buildPlan(desired, withKey(state, { versions: versions([1, 'DISABLED']) }));
    expect(none.problems).toEqual([
      `Cloud KMS key ${DPOP_KMS_KEY} has no enabled version: create one (gcloud kms keys versions create --key=${KEY} --keyring=consent-vault --location=europe-west1 --project=${PROJECT}) or enable one (refresh tokens bound to a version refresh only with it)`,
    ]);
    expect(onKey(none).filter((c) => c.startsWith(`kms keys create`))).toEqual([]);
    expect(
      formatSummary(desired, withKey(state, { versions: versions([1, 'DISABLED']) })),
    ).toContain(`WARNING: DPoP mode kms, but Cloud KMS key ${DPOP_KMS_KEY} has no enabled version`);
    const p384 = buildPlan(desired, withKey(state, { algorithm: 'EC_SIGN_P384_SHA384' }));
    expect(p384.problems).toEqual([
      `Cloud KMS key ${DPOP_KMS_KEY} has purpose ASYMMETRIC_SIGN and algorithm EC_SIGN_P384_SHA384; DPoP proofs (ES256) need purpose ASYMMETRIC_SIGN with EC_SIGN_P256_SHA256`,
    ]);
    const symmetric = buildPlan(
      desired,
      withKey(state, { purpose: 'ENCRYPT_DECRYPT', algorithm: 'GOOGLE_SYMMETRIC_ENCRYPTION' }),
    );
    expect(symmetric.problems).toHaveLength(1);
    const mixed = buildPlan(
      desired,
      withKey(state, {
        versions: [
          { number: 1, state: 'ENABLED', algorithm: ES256 },
          { number: 2, state: 'ENABLED', algorithm: 'EC_SIGN_P384_SHA384' },
        ],
      }),
    );
    expect(mixed.problems).toEqual([
      `Cloud KMS key ${DPOP_KMS_KEY} version 2 has algorithm EC_SIGN_P384_SHA384; DPoP proofs (ES256) need EC_SIGN_P256_SHA256: disable that version`,
    ]);
  });

  it('keeps an existing DPoP secret mounted and readable: tokens bound to it keep refreshing', () => {
    const secretMode = converged(desiredFor());
    const next = buildPlan(desired, secretMode);
    expect(next.problems).toEqual([]);
    expect(onKey(next)[0]).toBe(
      `kms keys create ${KEY} ${KMS_WHERE} --purpose=asymmetric-signing --default-algorithm=ec-sign-p256-sha256 --protection-level=software`,
    );
    // Neither created nor granted anew: only the deploys name it, mounting it as it was.
    expect(
      commandsOf(next).filter((c) => c.includes(DPOP_SECRET) && !c.startsWith('functions deploy')),
    ).toEqual([]);
    for (const name of DPOP_FUNCTIONS) {
      expect(flag(deployOf(next, name)?.args ?? [], 'set-secrets')).toContain(
        `DPOP_KEYS=projects/${PROJECT}/secrets/${DPOP_SECRET}:1`,
      );
      expect(envOf(next, name)['DPOP_KMS_KEYS']).toBe(version(1));
    }
    expect(next.notes.filter((note) => /dpop/i.test(note))).toEqual([
      `secret ${DPOP_SECRET} exists: kept mounted beside Cloud KMS key ${KEY} (refresh tokens bound to its keys refresh only with them; new ones are bound to the Cloud KMS key)`,
    ]);
    const summary = formatSummary(desired, secretMode);
    expect(summary).toContain('DPoP mode kms: new refresh tokens are bound to Cloud KMS key');
    expect(summary).toContain(
      `The keys in DPOP_KEYS (secret ${DPOP_SECRET}) stay mounted on callback, dispatcher, worker`,
    );
  });

  it('takes its roles away from a function of this deployment the schema does not give them', () => {
    const state = converged(desired);
    const next = buildPlan(
      desired,
      withKey(state, {
        policy: {
          bindings: [
            { role: 'roles/cloudkms.signer', members: [...DPOP_FUNCTIONS, 'risc'].map(sa) },
            {
              role: 'roles/cloudkms.publicKeyViewer',
              members: [...DPOP_FUNCTIONS, 'authorize', 'user:auditor@example.com'].map((m) =>
                m.includes(':') ? m : sa(m),
              ),
            },
          ],
        },
      }),
    );
    expect(commandsOf(next)).toEqual([
      `kms keys remove-iam-policy-binding ${KEY} ${KMS_WHERE} --member=${sa('risc')} --role=roles/cloudkms.signer`,
      `kms keys remove-iam-policy-binding ${KEY} ${KMS_WHERE} --member=${sa('authorize')} --role=roles/cloudkms.publicKeyViewer`,
    ]);
    expect(next.notes).toContain(
      `Cloud KMS key ${KEY}: roles/cloudkms.publicKeyViewer also held by user:auditor@example.com (not granted by this deploy)`,
    );
  });

  it('without --dpop-kms an existing key is kept: its versions stay set, its grants held, no secret made', () => {
    for (const flags of [[], ['--no-dpop']]) {
      const next = buildPlan(desiredFor(flags), converged(desired));
      expect(next.steps, flags.join()).toEqual([]);
      expect(next.problems).toEqual([]);
      expect(next.notes.filter((note) => /dpop/i.test(note))).toEqual([
        `Cloud KMS key ${KEY} exists: kept without --dpop-kms, its enabled versions stay in DPOP_KMS_KEYS (refresh tokens bound to them refresh only with them; version 1 binds new ones)`,
      ]);
      expect(formatSummary(desiredFor(flags), converged(desired))).toContain('DPoP mode kms:');
    }
  });

  it('with --no-kms: the ring and the DPoP key, no token key, the Cloud KMS API enabled', () => {
    const raw = desiredFor(['--dpop-kms', '--no-kms']);
    const next = buildPlan(raw, empty);
    expect(raw.apis).toContain('cloudkms.googleapis.com');
    expect(commandsOf(next).filter((c) => c.startsWith('kms '))).toEqual([
      `kms keyrings create consent-vault --project=${PROJECT} --location=europe-west1`,
      ...onKey(plan),
    ]);
    expect(formatSummary(raw, undefined)).toContain('WARNING: --no-kms');
    expect(formatSummary(raw, undefined)).toContain('DPoP mode kms:');
  });

  it('--dpop-kms-hsm creates the key in an HSM, and notes that an existing key keeps its level', () => {
    const hsm = desiredFor(['--dpop-kms', '--dpop-kms-hsm']);
    expect(onKey(buildPlan(hsm, empty))[0]).toBe(
      `kms keys create ${KEY} ${KMS_WHERE} --purpose=asymmetric-signing --default-algorithm=ec-sign-p256-sha256 --protection-level=hsm`,
    );
    const software = buildPlan(hsm, converged(desired));
    expect(software.steps).toEqual([]);
    expect(software.notes.filter((note) => /dpop/i.test(note))).toEqual([
      `Cloud KMS key ${KEY} has protection level SOFTWARE: --dpop-kms-hsm applies only when the key is created (a key's protection level is fixed), and the deploy never replaces it`,
    ]);
    expect(buildPlan(hsm, converged(hsm)).notes.filter((note) => /dpop/i.test(note))).toEqual([]);
  });

  it('names the mode in the summary, with the rotation step', () => {
    const summary = formatSummary(desired, undefined);
    expect(summary).toContain(
      `DPoP mode kms: new refresh tokens are bound to Cloud KMS key ${DPOP_KMS_KEY} (its first version; SOFTWARE), whose private key never leaves Cloud KMS`,
    );
    expect(summary).toContain(
      'Only callback, dispatcher, worker may sign with it (roles/cloudkms.signer and roles/cloudkms.publicKeyViewer on that key only)',
    );
    expect(summary).toContain(
      `gcloud kms keys versions create --key=${KEY} --keyring=consent-vault --location=europe-west1 --project=${PROJECT}, then redeploy`,
    );
    expect(summary).not.toContain('DPoP mode secret');
    expect(formatSummary(desiredFor(), undefined)).not.toContain('versions create');
  });
});

describe('migration from the one master keyset', () => {
  const desired = desiredFor();
  const state = converged(desired);
  const master: ProjectState = {
    ...state,
    secrets: {
      'consent-vault-oauth-client-secret': state.secrets['consent-vault-oauth-client-secret']!,
      'consent-vault-token-keyset': {
        versions: [{ number: 1, state: 'ENABLED' }],
        policy: {
          bindings: [
            {
              role: 'roles/secretmanager.secretAccessor',
              members: ['authorize', ...TOKEN_FUNCTIONS].map(sa),
            },
          ],
        },
        content: { format: 'master' },
      },
    },
  };
  const plan = buildPlan(desired, master);
  const steps = gcloudSteps(plan);
  const split = { kind: 'split', secret: 'consent-vault-token-keyset', version: 1 };

  it('splits the cookie, link and connect keysets from the master, the token one last, wrapped', () => {
    const keysets = steps.filter((s) => s.stdin?.kind === 'keyset');
    expect(keysets.map((s) => [s.args.slice(0, 4).join(' '), s.stdin])).toEqual([
      ...['cookie', 'link', 'connect'].map((purpose) => [
        `secrets create consent-vault-${purpose}-keyset --project=${PROJECT}`,
        { kind: 'keyset', purpose, source: split },
      ]),
      [
        'secrets versions add consent-vault-token-keyset',
        { kind: 'keyset', purpose: 'token', source: split, wrapWith: kmsKeyOf(desired) },
      ],
    ]);
    expect(plan.notes.join('\n')).toContain(
      'migration: secret consent-vault-token-keyset version 1 holds a master keyset',
    );
  });

  it('pins the new token version, takes the token keyset from authorize, then disables the master', () => {
    const deploys = steps.filter((s) => s.args[1] === 'deploy');
    for (const step of deploys.filter((s) => TOKEN_FUNCTIONS.includes(s.args[2] ?? '')))
      expect(flag(step.args, 'set-secrets')).toContain('consent-vault-token-keyset:2');
    expect(commandsOf(plan)).toContain(
      `secrets remove-iam-policy-binding consent-vault-token-keyset --project=${PROJECT} --member=${sa('authorize')} --role=roles/secretmanager.secretAccessor`,
    );
    const disable = steps.findIndex(
      (s) => s.args.slice(0, 3).join(' ') === 'secrets versions disable',
    );
    expect(steps[disable]?.args).toEqual([
      'secrets',
      'versions',
      'disable',
      '1',
      `--project=${PROJECT}`,
      '--secret=consent-vault-token-keyset',
    ]);
    const lastDeploy = steps.findLastIndex((s) => s.args[1] === 'deploy');
    expect(disable).toBeGreaterThan(lastDeploy);
  });

  it('with --no-kms, stores the split token keyset raw', () => {
    const raw = gcloudSteps(buildPlan(desiredFor(['--no-kms']), master)).find(
      (s) => s.args[2] === 'add' && s.args[3] === 'consent-vault-token-keyset',
    );
    expect(raw?.stdin).toEqual({ kind: 'keyset', purpose: 'token', source: split });
  });
});

describe('buildPlan problems', () => {
  it('needs a client secret when the secret does not exist', () => {
    const built = desiredFromEnv({ OAUTH_CLIENT_ID: 'id' });
    if (!built.ok) throw new Error(built.problems.join());
    const plan = buildPlan(built.desired, emptyState());
    expect(plan.problems).toEqual([
      'secret consent-vault-oauth-client-secret does not exist: pass --client-secret-file PATH (or - for standard input)',
    ]);
  });

  it('reports every invalid function setting through shared/settings/config.ts', () => {
    const parsed = parseArgs(['--project', PROJECT, '--region', 'europe-west1']);
    if (!parsed.ok) throw new Error('bad args');
    const built = buildDesired({
      options: parsed.options,
      envValues: { REDIRECT_URI: 'http://example.com/callback', RUN_BATCH_SIZE: '0' },
      rulesSource: RULES,
      indexesJson: '{"indexes": [{"collectionGroup": "x"}]}',
      sourceHashes: {},
      monitoring: MONITORING,
    });
    expect(built.ok).toBe(false);
    if (built.ok) return;
    const problems = built.problems.join('\n');
    expect(problems).toContain('OAUTH_CLIENT_ID');
    expect(problems).toContain('REDIRECT_URI');
    expect(problems).toContain('RUN_BATCH_SIZE');
  });
});

describe('the enabled jobs: APIs and the consent screen', () => {
  const AUTH = 'https://www.googleapis.com/auth/';
  const LINK = 'https://support.google.com/cloud/answer/13463073';
  const withJobs = (jobs: string): Desired => desiredFor([], {}, { JOBS: jobs });
  const enables = (desired: Desired, state: ProjectState): string[] =>
    commandsOf(buildPlan(desired, state)).filter((c) => c.startsWith('services enable'));
  const summaryLines = (desired: Desired): string[] =>
    formatSummary(desired, undefined).split('\n');
  const three = withJobs('drive-export,sheets-read,drive-list');

  it('JOBS=drive-export enables Drive on top of the platform APIs, and no Sheets API', () => {
    const desired = withJobs('drive-export');
    expect(desired.apis).toEqual([...APIS, 'drive.googleapis.com']);
    expect(enables(desired, emptyState())).toEqual([
      `services enable ${[...APIS, 'drive.googleapis.com'].join(' ')} --project=${PROJECT}`,
    ]);
  });

  it("enables each job's API once, after the platform's", () => {
    expect(three.apis).toEqual([...APIS, 'drive.googleapis.com', 'sheets.googleapis.com']);
  });

  it("an existing project without the jobs' APIs gets just those enabled", () => {
    const platformOnly = { ...converged(three), enabledServices: [...APIS] };
    expect(enables(three, platformOnly)).toEqual([
      `services enable drive.googleapis.com sheets.googleapis.com --project=${PROJECT}`,
    ]);
    expect(enables(three, converged(three))).toEqual([]);
  });

  it('prints the sign-in and job scopes to register, with their descriptions', () => {
    const lines = summaryLines(three);
    const start = lines.findIndex((line) => line.startsWith('Register these scopes on the OAuth'));
    expect(start).toBeGreaterThan(-1);
    expect(lines.slice(start + 1, start + 6).map((line) => line.trim().split(/\s{2,}/))).toEqual([
      ['openid', 'sign-in: associate you with your personal info on Google'],
      [
        'email',
        'sign-in: see your primary Google Account email address (listed as …/auth/userinfo.email)',
      ],
      [`${AUTH}drive.file`, 'drive-export: see and change only the Google Drive files it creates'],
      [`${AUTH}spreadsheets.readonly`, 'sheets-read: see your Google Sheets spreadsheets'],
      [
        `${AUTH}drive.metadata.readonly`,
        'drive-list: see the names and details of your Google Drive files',
      ],
    ]);
  });

  it('warns about the sensitive and the restricted scope, naming the job and the review', () => {
    expect(summaryLines(three).filter((line) => line.startsWith('WARNING:'))).toEqual([
      `WARNING: sensitive scope ${AUTH}spreadsheets.readonly (needed by sheets-read) needs Google's verification before the app is published: ${LINK}`,
      `WARNING: restricted scope ${AUTH}drive.metadata.readonly (needed by drive-list) needs verification and a security assessment before the app is published: ${LINK}`,
    ]);
    expect(formatSummary(three, undefined)).toContain('Google must verify the app first');
  });

  it("notes a job's own scope that consent-vault does not classify", () => {
    const own = {
      url: 'https://www.googleapis.com/auth/photoslibrary.readonly',
      description: 'see your photos',
      sensitivity: 'unknown' as const,
      jobs: ['my-photos'],
    };
    const lines = summaryLines({ ...three, consentScopes: [...three.consentScopes, own] });
    expect(lines.filter((line) => line.startsWith('note:'))).toEqual([
      `note: ${own.url} (needed by my-photos) is not in consent-vault's list of Google scopes: check on the consent screen whether it is sensitive or restricted (${LINK})`,
    ]);
  });

  it('warns about nothing for drive.file alone', () => {
    const summary = formatSummary(withJobs('drive-export'), undefined);
    expect(summary).not.toContain('WARNING');
    expect(summary).not.toContain('Google must verify');
  });

  it('refuses an unknown job in the env file, naming the known ones', () => {
    const built = desiredFromEnv({ OAUTH_CLIENT_ID: 'id', JOBS: 'drive-export,sheets-raed' });
    expect(built).toEqual({
      ok: false,
      problems: [
        'env file: JOBS: names an unknown job "sheets-raed" (known: drive-export, drive-list, sheets-read)',
      ],
    });
  });
});

/** buildDesired for a plain deploy whose env file holds `envValues`. */
function desiredFromEnv(envValues: Record<string, string>) {
  const parsed = parseArgs(['--project', PROJECT, '--region', 'europe-west1']);
  if (!parsed.ok) throw new Error('bad args');
  return buildDesired({
    options: parsed.options,
    envValues,
    rulesSource: RULES,
    indexesJson: undefined,
    sourceHashes: {},
    monitoring: MONITORING,
  });
}

describe('the worker fleet, sized from the Google call budgets (GOOGLE_CALL_BUDGET, GOOGLE_API_BUDGETS)', () => {
  function workerDeploy(desired: Desired): readonly string[] {
    const plan = buildPlan(desired, { ...emptyState(), projectNumber: NUMBER });
    const step = gcloudSteps(plan).find((s) => s.args[1] === 'deploy' && s.args[2] === 'worker');
    if (step === undefined) throw new Error('no worker deploy');
    return step.args;
  }
  // drive-export: each user's refresh (the token endpoint) and one Drive call, 2 calls in all.
  const perInstance = (lanes: number, latency: number, users: string) =>
    `(${lanes} lanes × 1000 / ${latency} ms / 2 calls per user = ${users} users/s per instance)`;

  it.each([
    // → --max-instances: floor(least of budget / calls per user, over APIs / per instance), ≥ 1
    [
      {},
      [],
      '2',
      `oauth2.googleapis.com binds first: 200 calls/s / 1 per user = 200 users/s, over ${perInstance(16, 100, '80')}`,
    ],
    [
      { GOOGLE_CALL_BUDGET: '2000' },
      [],
      '25',
      `oauth2.googleapis.com binds first: 2000 calls/s / 1 per user = 2000 users/s, over ${perInstance(16, 100, '80')}`,
    ],
    [
      { GOOGLE_CALL_BUDGET: '200', GOOGLE_CALL_LATENCY_MS: '300' },
      [],
      '7',
      `oauth2.googleapis.com binds first: 200 calls/s / 1 per user = 200 users/s, over ${perInstance(16, 300, '26.7')}`,
    ],
    [
      { GOOGLE_CALL_BUDGET: '1000', GOOGLE_CALL_LATENCY_MS: '50', WORKER_CONCURRENCY: '4' },
      [],
      '25',
      `oauth2.googleapis.com binds first: 1000 calls/s / 1 per user = 1000 users/s, over ${perInstance(4, 50, '40')}`,
    ],
    [
      { GOOGLE_CALL_BUDGET: '10', WORKER_CONCURRENCY: '64' },
      [],
      '1',
      `oauth2.googleapis.com binds first: 10 calls/s / 1 per user = 10 users/s, over ${perInstance(64, 100, '320')}`,
    ],
    // An API with its own budget: the least of them binds.
    [
      { GOOGLE_CALL_BUDGET: '2000', GOOGLE_API_BUDGETS: 'drive.googleapis.com=400' },
      [],
      '5',
      `drive.googleapis.com binds first: 400 calls/s / 1 per user = 400 users/s, over ${perInstance(16, 100, '80')}`,
    ],
    // A budget for an API no enabled job calls changes nothing.
    [
      { GOOGLE_CALL_BUDGET: '2000', GOOGLE_API_BUDGETS: 'sheets.googleapis.com=10' },
      [],
      '25',
      `oauth2.googleapis.com binds first: 2000 calls/s / 1 per user = 2000 users/s, over ${perInstance(16, 100, '80')}`,
    ],
  ])(
    '%o %j gives --max-instances %s and prints the arithmetic',
    (env, args, expected, arithmetic) => {
      const desired = desiredFor(args, {}, env);
      expect(flag(workerDeploy(desired), 'max-instances')).toBe(expected);
      expect(formatSummary(desired, undefined)).toContain(
        `  worker --max-instances ${expected}: ${arithmetic}`,
      );
    },
  );

  it('takes the exact floor where floating point would fall just short (80 / (16 × 1000 / 300 / 2) = 3)', () => {
    const desired = desiredFor([], {}, { GOOGLE_CALL_BUDGET: '80', GOOGLE_CALL_LATENCY_MS: '300' });
    expect(flag(workerDeploy(desired), 'max-instances')).toBe('3');
  });

  it('counts the calls a job declares per API', () => {
    const fleet = sizeWorkerFleet({
      budgetPerSecond: 200,
      apiBudgets: new Map(),
      callsPerUser: callsPerUser(new Map([['drive.googleapis.com', 3]])),
      latencyMs: 100,
      lanes: 16,
      override: undefined,
    });
    // Drive: 200 / 3 = 66.7 users/s, over 16 × 1000 / 100 / 4 = 40 per instance.
    expect(fleet).toEqual({
      maxInstances: 1,
      reason:
        'drive.googleapis.com binds first: 200 calls/s / 3 per user = 66.7 users/s, over (16 lanes × 1000 / 100 ms / 4 calls per user = 40 users/s per instance)',
    });
  });

  it('sizes only the worker: the other functions keep their own --max-instances', () => {
    const small = buildPlan(desiredFor(), { ...emptyState(), projectNumber: NUMBER });
    const large = buildPlan(desiredFor([], {}, { GOOGLE_CALL_BUDGET: '100000' }), {
      ...emptyState(),
      projectNumber: NUMBER,
    });
    const sizes = (plan: Plan) =>
      gcloudSteps(plan)
        .filter((s) => s.args[1] === 'deploy' && s.args[2] !== 'worker')
        .map((s) => `${s.args[2]} ${flag(s.args, 'max-instances')}`);
    expect(sizes(large)).toEqual(sizes(small));
    expect(sizes(small)).toEqual([
      'authorize 10',
      'callback 10',
      'revoke 5',
      'dispatcher 2',
      'risc 3',
    ]);
  });

  it('--worker-max-instances wins over the budget, and the summary says what the budget gives', () => {
    const desired = desiredFor(['--worker-max-instances', '7'], {}, { GOOGLE_CALL_BUDGET: '2000' });
    expect(flag(workerDeploy(desired), 'max-instances')).toBe('7');
    expect(formatSummary(desired, undefined)).toContain(
      `  worker --max-instances 7: given by --worker-max-instances (the call budgets would give 25: oauth2.googleapis.com binds first: 2000 calls/s / 1 per user = 2000 users/s, over ${perInstance(16, 100, '80')})`,
    );
  });

  it('on a converged project, --worker-max-instances redeploys the worker alone', () => {
    const plan = buildPlan(desiredFor(['--worker-max-instances', '5']), converged(desiredFor()));
    expect(gcloudSteps(plan).map((s) => [s.title, flag(s.args, 'max-instances')])).toEqual([
      ['Deploy function worker (code or settings changed)', '5'],
    ]);
  });

  it.each([
    ['GOOGLE_CALL_BUDGET', '0', 'from 1 to 1000000'],
    ['GOOGLE_CALL_BUDGET', '-200', 'from 1 to 1000000'],
    ['GOOGLE_CALL_BUDGET', '200/s', 'from 1 to 1000000'],
    ['GOOGLE_CALL_BUDGET', '1.5', 'from 1 to 1000000'],
    ['GOOGLE_CALL_LATENCY_MS', '0', 'from 1 to 60000'],
    ['GOOGLE_CALL_LATENCY_MS', 'fast', 'from 1 to 60000'],
  ])('refuses %s=%s in the env file, naming the setting', (name, value, range) => {
    const built = desiredFromEnv({ OAUTH_CLIENT_ID: 'id', [name]: value });
    expect(built).toEqual({
      ok: false,
      problems: [`env file: ${name}: must be a whole number ${range}`],
    });
  });

  it.each([
    'drive.googleapis.com=0',
    'drive=200',
    'drive.googleapis.com:200',
    'drive.googleapis.com=1.5',
  ])('refuses GOOGLE_API_BUDGETS=%s in the env file', (value) => {
    const built = desiredFromEnv({ OAUTH_CLIENT_ID: 'id', GOOGLE_API_BUDGETS: value });
    expect(built).toEqual({
      ok: false,
      problems: [expect.stringMatching(/GOOGLE_API_BUDGETS.*malformed/)],
    });
  });
});

describe('envVarsArg', () => {
  it('picks a delimiter absent from every value', () => {
    expect(envVarsArg({ B: 'x,y', A: '1' })).toBe('^;^A=1;B=x,y');
    expect(envVarsArg({ A: 'a;b', B: 'c' })).toBe('^|^A=a;b|B=c');
  });
});

describe('the dashboard and alerts (infra/monitoring/)', () => {
  const desired = desiredFor();
  const ready = converged(desired);
  const EMAIL = 'ops@example.com';
  const policySteps = (plan: Plan) => gcloudSteps(plan).filter((s) => s.args[2] === 'policies');
  /** `desired` with one definition's body changed. */
  const changed = (file: string, change: (body: Record<string, unknown>) => object): Desired => {
    const apply = <T extends { file: string; body: Record<string, unknown> }>(item: T): T =>
      item.file.endsWith(file)
        ? { ...item, body: change(structuredClone(item.body)) as T['body'] }
        : item;
    const { monitoring } = desired;
    return {
      ...desired,
      monitoring: {
        ...monitoring,
        metrics: monitoring.metrics.map(apply),
        dashboard: apply(monitoring.dashboard),
        policies: monitoring.policies.map(apply),
      },
    };
  };

  it('on an empty project: enables Logging and Monitoring, creates each metric from its file and the dashboard, then the policies', () => {
    const plan = buildPlan(desired, { ...emptyState(), projectNumber: NUMBER });
    const commands = commandsOf(plan);
    const enable = commands.find((c) => c.startsWith('services enable')) ?? '';
    expect(enable).toContain(' logging.googleapis.com monitoring.googleapis.com ');
    expect(commands.filter((c) => c.startsWith('logging metrics'))).toEqual(
      MONITORING.metrics.map(
        (m) => `logging metrics create ${m.name} --project=${PROJECT} --config-from-file=${m.file}`,
      ),
    );
    expect(commands.filter((c) => c.startsWith('monitoring dashboards'))).toEqual([
      `monitoring dashboards create --project=${PROJECT} --config-from-file=${MONITORING.dashboard.file}`,
    ]);
    expect(policySteps(plan).map((s) => [s.args.join(' '), s.pending, s.retriable])).toEqual(
      MONITORING.policies.map((p) => [
        `alpha monitoring policies create --project=${PROJECT} --policy-from-file=${p.file}`,
        p.metrics.length > 0 ? 'each log-based metric it reads' : undefined,
        true,
      ]),
    );
    // Without --alert-email no channel is made, nor listed.
    expect(commands.some((c) => c.includes('channels'))).toBe(false);
    expect(commands.findIndex((c) => c.startsWith('logging metrics'))).toBeGreaterThan(
      commands.findIndex((c) => c.startsWith('services enable')),
    );
  });

  it('a converged project plans nothing, whatever names, times and defaults the API added', () => {
    expect(buildPlan(desired, ready).steps).toEqual([]);
    // And a dashboard listed with zero tile positions left out and chart defaults filled in.
    const dashboard = ready.monitoring.dashboards[0]!;
    const listed = JSON.parse(
      JSON.stringify(dashboard.body).replaceAll(
        '"plotType":"LINE"',
        '"plotType":"LINE","targetAxis":"Y1"',
      ),
    ) as Record<string, unknown>;
    const state = {
      ...ready,
      monitoring: { ...ready.monitoring, dashboards: [{ ...dashboard, body: listed }] },
    };
    expect(buildPlan(desired, state).steps).toEqual([]);
  });

  it('updates just the definition that changed: a metric by name, the dashboard and a policy by id', () => {
    const metric = MONITORING.metrics[0]!;
    const plan = (d: Desired) => commandsOf(buildPlan(d, ready));
    expect(
      plan(changed(`metrics/${metric.name}.json`, (b) => ({ ...b, filter: 'severity>=ERROR' }))),
    ).toEqual([
      `logging metrics update ${metric.name} --project=${PROJECT} --config-from-file=${metric.file}`,
    ]);
    expect(
      plan(changed('dashboard.json', (b) => ({ ...b, mosaicLayout: { columns: 48, tiles: [] } }))),
    ).toEqual([
      `monitoring dashboards update d1 --project=${PROJECT} --config-from-file=${MONITORING.dashboard.file}`,
    ]);
    const index = MONITORING.policies.findIndex((p) => p.file.endsWith('run-deadline.json'));
    const deadline = MONITORING.policies[index]!;
    expect(
      plan(
        changed(
          'run-deadline.json',
          (b) => JSON.parse(JSON.stringify(b).replaceAll('21600', '14400')) as object,
        ),
      ),
    ).toEqual([
      `alpha monitoring policies update ${index + 1} --project=${PROJECT} --policy-from-file=${deadline.file}`,
    ]);
  });

  it('--alert-email: makes the email channel, then every policy notifies it too, beside the channels it had', () => {
    const withEmail = desiredFor(['--alert-email', EMAIL]);
    const operators = {
      ...ready,
      monitoring: {
        ...ready.monitoring,
        policies: ready.monitoring.policies.map((p, i) =>
          i === 0 ? { ...p, channels: ['op1'] } : p,
        ),
      },
    };
    const first = buildPlan(withEmail, operators);
    expect(commandsOf(first).filter((c) => !c.startsWith('alpha'))).toEqual([
      `beta monitoring channels create --project=${PROJECT} --type=email --display-name=consent-vault alerts: ${EMAIL} --channel-labels=email_address=${EMAIL}`,
    ]);
    const pending = policySteps(first);
    expect(pending).toHaveLength(MONITORING.policies.length);
    expect(pending.every((s) => s.pending === `the notification channel for ${EMAIL}`)).toBe(true);
    const channelMade = {
      ...operators,
      monitoring: { ...operators.monitoring, emailChannels: [{ id: '77', email: EMAIL }] },
    };
    expect(
      policySteps(buildPlan(withEmail, channelMade)).map((s) => [
        s.args[4],
        flag(s.args, 'set-notification-channels'),
        s.pending,
      ]),
    ).toEqual(
      MONITORING.policies.map((_, i) => [`${i + 1}`, i === 0 ? 'op1,77' : '77', undefined]),
    );
    // Converged with it: nothing; without the flag later, nothing either (the channel stays).
    expect(buildPlan(withEmail, converged(withEmail)).steps).toEqual([]);
    expect(buildPlan(desired, converged(withEmail)).steps).toEqual([]);
  });

  it('without --alert-email, a policy replaced from its changed file keeps the channels it has', () => {
    const state = {
      ...ready,
      monitoring: {
        ...ready.monitoring,
        policies: ready.monitoring.policies.map((p) => ({ ...p, channels: ['op1', 'op2'] })),
      },
    };
    const steps = policySteps(
      buildPlan(
        changed('run-halted.json', (b) => ({ ...b, severity: 'ERROR' })),
        state,
      ),
    );
    expect(steps.map((s) => flag(s.args, 'set-notification-channels'))).toEqual(['op1,op2']);
  });

  it('notes a run deadline not shorter than RUN_PERIOD_SECONDS', () => {
    const hourly = desiredFor([], {}, { RUN_PERIOD_SECONDS: '3600' });
    expect(buildPlan(hourly, converged(hourly)).notes.join('\n')).toContain(
      'its deadline of 21600 s is not shorter than RUN_PERIOD_SECONDS=3600',
    );
    expect(buildPlan(desired, ready).notes.join('\n')).not.toContain('deadline');
  });

  it('names the dashboard, the metrics and the policies in the summary, and whom they notify', () => {
    const summary = formatSummary(desired, emptyState());
    expect(summary).toContain('dashboard "consent-vault runs"');
    for (const policy of MONITORING.policies) expect(summary).toContain(policy.displayName);
    expect(summary).toContain('notify nobody yet');
    const withEmail = desiredFor(['--alert-email', EMAIL]);
    expect(formatSummary(withEmail, converged(withEmail))).toContain(`They notify ${EMAIL}`);
    expect(formatSummary(withEmail, converged(withEmail))).not.toContain('notify nobody');
  });
});

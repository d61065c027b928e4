// Reads the project state with read-only gcloud commands (describe, list, get-iam-policy) and
// the Rules API. Resources of a disabled API count as absent: asking would only fail.
import type { Desired } from './desired.ts';
import { accessSecretVersion, describe } from './gcloud.ts';
import type { Gcloud } from './gcloud.ts';
import { classifyKeyset } from './keyset.ts';
import type { RulesApi } from './rules-api.ts';
import { KMS, SECRETS } from './resources.ts';
import { emptyState, newestEnabled } from './state.ts';
import type {
  Binding,
  CompositeIndex,
  DpopKeyState,
  FunctionState,
  IamPolicy,
  KmsState,
  MonitoringResource,
  MonitoringState,
  ProjectState,
  SecretState,
  SubscriptionState,
  TtlField,
} from './state.ts';

type Json = Record<string, unknown>;

export async function observe(
  gcloud: Gcloud,
  rules: RulesApi,
  desired: Desired,
): Promise<ProjectState> {
  const g = limit(gcloud, 6);
  const p = `--project=${desired.project}`;
  const get = (args: string[]): Promise<unknown> => describe(g, [...args, p]);

  const project = (await get(['projects', 'describe', desired.project])) as Json | undefined;
  if (project === undefined) throw new Error(`project ${desired.project} not found`);
  const services = asArray(await get(['services', 'list', '--enabled'])).map((service) => {
    const name = str((service.config as Json | undefined)?.name) ?? str(service.name) ?? '';
    return name.split('/').pop() ?? '';
  });
  const enabled = (api: string): boolean => services.includes(api);

  const subscriptionState = async (id: string): Promise<SubscriptionState | undefined> => {
    const sub = (await get(['pubsub', 'subscriptions', 'describe', id])) as Json | undefined;
    if (sub === undefined) return undefined;
    const deadLetter = (sub.deadLetterPolicy ?? {}) as Json;
    const retry = (sub.retryPolicy ?? {}) as Json;
    return {
      topic: str(sub.topic),
      deadLetterTopic: str(deadLetter.deadLetterTopic),
      maxDeliveryAttempts:
        deadLetter.maxDeliveryAttempts === undefined
          ? undefined
          : Number(deadLetter.maxDeliveryAttempts),
      minimumBackoff: str(retry.minimumBackoff),
      maximumBackoff: str(retry.maximumBackoff),
      policy: policyOf(await get(['pubsub', 'subscriptions', 'get-iam-policy', id])),
    };
  };

  const [
    projectPolicy,
    accounts,
    secrets,
    kms,
    topics,
    deadLetterSub,
    firestore,
    functions,
    job,
    monitoring,
  ] = await Promise.all([
    get(['projects', 'get-iam-policy', desired.project]).then(policyOf),
    enabled('iam.googleapis.com')
      ? get(['iam', 'service-accounts', 'list']).then(asArray)
      : Promise.resolve([]),
    enabled('secretmanager.googleapis.com') ? observeSecrets() : Promise.resolve({}),
    enabled(KMS.api) ? observeKms() : Promise.resolve(emptyState().kms),
    enabled('pubsub.googleapis.com') ? observeTopics() : Promise.resolve({}),
    enabled('pubsub.googleapis.com')
      ? subscriptionState(desired.deadLetterSubscription)
      : Promise.resolve(undefined),
    enabled('firestore.googleapis.com') ? observeFirestore() : Promise.resolve(undefined),
    enabled('cloudfunctions.googleapis.com') ? observeFunctions() : Promise.resolve([]),
    enabled('cloudscheduler.googleapis.com') ? observeJob() : Promise.resolve(undefined),
    observeMonitoring(),
  ]);

  const subscriptions: Record<string, SubscriptionState> = {};
  if (deadLetterSub !== undefined) subscriptions[desired.deadLetterSubscription] = deadLetterSub;
  const functionStates: Record<string, FunctionState> = {};
  for (const [name, fn, sub] of functions) {
    functionStates[name] = fn;
    if (fn.triggerSubscription !== undefined && sub !== undefined)
      subscriptions[fn.triggerSubscription] = sub;
  }

  return {
    projectNumber: str(project.projectNumber),
    enabledServices: services,
    projectPolicy,
    serviceAccounts: Object.fromEntries(
      accounts.map((account) => [
        str(account.email) ?? '',
        { displayName: str(account.displayName) ?? '' },
      ]),
    ),
    secrets,
    kms,
    topics,
    subscriptions,
    firestore: firestore ?? emptyState().firestore,
    functions: functionStates,
    schedulerJob: job,
    monitoring,
  };

  /**
   * Log-based metrics, dashboards and alerting policies as gcloud lists them (policies are alpha
   * only in gcloud; notification channels beta). Channels are listed only for --alert-email, so
   * that a deploy without it needs no notification-channel role.
   */
  async function observeMonitoring(): Promise<MonitoringState> {
    const monitoringApi = enabled('monitoring.googleapis.com');
    const list = (on: boolean, args: string[]): Promise<Json[]> =>
      on ? get(args).then(asArray) : Promise.resolve([]);
    const [metrics, dashboards, policies, channels] = await Promise.all([
      list(enabled('logging.googleapis.com'), ['logging', 'metrics', 'list']),
      list(monitoringApi, ['monitoring', 'dashboards', 'list']),
      list(monitoringApi, ['alpha', 'monitoring', 'policies', 'list']),
      list(monitoringApi && desired.monitoring.alertEmail !== undefined, [
        'beta',
        'monitoring',
        'channels',
        'list',
      ]),
    ]);
    const resource = (item: Json): MonitoringResource => ({
      id: lastPart(str(item.name)),
      displayName: str(item.displayName) ?? '',
      body: item,
    });
    return {
      // A log-based metric's name is its id (which may hold slashes, not ours).
      metrics: Object.fromEntries(metrics.map((metric) => [str(metric.name) ?? '', metric])),
      dashboards: dashboards.map(resource),
      policies: policies.map((policy) => ({
        ...resource(policy),
        channels: asStrings(policy.notificationChannels).map((name) => lastPart(name)),
      })),
      emailChannels: channels
        .filter((channel) => channel.type === 'email')
        .map((channel) => ({
          id: lastPart(str(channel.name)),
          email: str((channel.labels as Json | undefined)?.email_address) ?? '',
        })),
    };
  }

  async function observeSecrets(): Promise<Record<string, SecretState>> {
    const result: Record<string, SecretState> = {};
    await Promise.all(
      Object.values(SECRETS).map(async ({ name }) => {
        if ((await get(['secrets', 'describe', name])) === undefined) return;
        const [versions, policy] = await Promise.all([
          get(['secrets', 'versions', 'list', name]).then(asArray),
          get(['secrets', 'get-iam-policy', name]).then(policyOf),
        ]);
        const state: SecretState = {
          versions: versions.map((version) => ({
            number: Number((str(version.name) ?? '').split('/').pop()),
            state: str(version.state) ?? '',
          })),
          policy,
        };
        // The token keyset's newest version is read to tell the old model's master keyset from
        // a purpose keyset, raw or wrapped; only what it is stays, never the value.
        const newest = name === SECRETS[KMS.wraps].name ? newestEnabled(state) : undefined;
        result[name] =
          newest === undefined
            ? state
            : {
                ...state,
                content: classifyKeyset(
                  await accessSecretVersion(g, desired.project, name, newest),
                ),
              };
      }),
    );
    return result;
  }

  async function observeKms(): Promise<KmsState> {
    const { location, keyRing, key } = desired.kms;
    const where = [`--keyring=${keyRing}`, `--location=${location}`];
    const ring = await get(['kms', 'keyrings', 'describe', keyRing, `--location=${location}`]);
    if (ring === undefined) return emptyState().kms;
    const [tokenKey, dpopKey] = await Promise.all([observeTokenKey(), observeDpopKey()]);
    return { keyRing: true, key: tokenKey, dpopKey };

    async function observeTokenKey(): Promise<KmsState['key']> {
      const found = (await get(['kms', 'keys', 'describe', key, ...where])) as Json | undefined;
      if (found === undefined) return undefined;
      return {
        purpose: str(found.purpose) ?? '',
        rotationPeriod: str(found.rotationPeriod),
        policy: policyOf(await get(['kms', 'keys', 'get-iam-policy', key, ...where])),
      };
    }

    // Observed with or without --dpop-kms: once it exists, the tokens bound to its versions
    // refresh only with them (plan-keys.ts keeps it).
    async function observeDpopKey(): Promise<DpopKeyState | undefined> {
      const dpop = desired.dpopKms.key;
      const found = (await get(['kms', 'keys', 'describe', dpop, ...where])) as Json | undefined;
      if (found === undefined) return undefined;
      const template = (found.versionTemplate ?? {}) as Json;
      const [policy, versions] = await Promise.all([
        get(['kms', 'keys', 'get-iam-policy', dpop, ...where]).then(policyOf),
        get(['kms', 'keys', 'versions', 'list', `--key=${dpop}`, ...where]).then(asArray),
      ]);
      return {
        purpose: str(found.purpose) ?? '',
        algorithm: str(template.algorithm),
        protectionLevel: str(template.protectionLevel),
        versions: versions.map((version) => ({
          number: Number((str(version.name) ?? '').split('/').pop()),
          state: str(version.state) ?? '',
          algorithm: str(version.algorithm) ?? '',
        })),
        policy,
      };
    }
  }

  async function observeTopics(): Promise<Record<string, { policy: IamPolicy }>> {
    const result: Record<string, { policy: IamPolicy }> = {};
    await Promise.all(
      Object.values(desired.topics).map(async (topic) => {
        if ((await get(['pubsub', 'topics', 'describe', topic])) === undefined) return;
        result[topic] = {
          policy: policyOf(await get(['pubsub', 'topics', 'get-iam-policy', topic])),
        };
      }),
    );
    return result;
  }

  async function observeFirestore(): Promise<ProjectState['firestore']> {
    const db = `--database=${desired.database}`;
    const database = (await get(['firestore', 'databases', 'describe', db])) as Json | undefined;
    if (database === undefined) return emptyState().firestore;
    const [indexes, ttls, overrides, rulesSource] = await Promise.all([
      get(['firestore', 'indexes', 'composite', 'list', db]).then(asArray),
      get(['firestore', 'fields', 'ttls', 'list', db]).then(asArray),
      get(['firestore', 'indexes', 'fields', 'list', db]).then(asArray),
      enabled('firebaserules.googleapis.com')
        ? rules.releasedSource(desired.database)
        : Promise.resolve(undefined),
    ]);
    return {
      database: { type: str(database.type) ?? '', location: str(database.locationId) ?? '' },
      indexes: indexes.map(indexOf),
      ttlFields: ttls.flatMap((field): TtlField[] => {
        const match = /collectionGroups\/([^/]+)\/fields\/([^/]+)$/.exec(str(field.name) ?? '');
        const state = str((field.ttlConfig as Json | undefined)?.state);
        return match && state !== undefined && state !== 'NEEDS_REPAIR'
          ? [{ collectionGroup: match[1] ?? '', field: match[2] ?? '' }]
          : [];
      }),
      exemptFields: overrides.flatMap((field): TtlField[] => {
        const match = /collectionGroups\/([^/]+)\/fields\/([^/]+)$/.exec(str(field.name) ?? '');
        const config = (field.indexConfig ?? {}) as Json;
        const exempt = asArray(config.indexes).length === 0 && config.usesAncestorConfig !== true;
        return match && match[1] !== '__default__' && exempt
          ? [{ collectionGroup: match[1] ?? '', field: match[2] ?? '' }]
          : [];
      }),
      rulesSource,
    };
  }

  async function observeFunctions(): Promise<
    [string, FunctionState, SubscriptionState | undefined][]
  > {
    const found = await Promise.all(
      desired.functions.map(async ({ spec }) => {
        const fn = (await get([
          'functions',
          'describe',
          spec.name,
          // v2 format for every function (gcloud's describe has --v2, not --gen2).
          '--v2',
          `--region=${desired.region}`,
        ])) as Json | undefined;
        if (fn === undefined) return undefined;
        const service = (fn.serviceConfig ?? {}) as Json;
        const serviceName = (str(service.service) ?? spec.name).split('/').pop() ?? spec.name;
        const runPolicy = policyOf(
          await get([
            'run',
            'services',
            'get-iam-policy',
            serviceName,
            `--region=${desired.region}`,
          ]),
        );
        const triggerName = str(((fn.eventTrigger ?? {}) as Json).trigger);
        let triggerSubscription: string | undefined;
        if (triggerName !== undefined) {
          const trigger = (await get([
            'eventarc',
            'triggers',
            'describe',
            triggerName.split('/').pop() ?? '',
            `--location=${desired.region}`,
          ])) as Json | undefined;
          const transport = ((trigger?.transport ?? {}) as Json).pubsub as Json | undefined;
          triggerSubscription = str(transport?.subscription)?.split('/').pop();
        }
        const state: FunctionState = {
          url: str(fn.url),
          labels: stringRecord(fn.labels),
          serviceAccount: str(service.serviceAccountEmail),
          environment: stringRecord(service.environmentVariables),
          secrets: asArray(service.secretEnvironmentVariables).map((s) => ({
            key: str(s.key) ?? '',
            secret: str(s.secret) ?? '',
            version: str(s.version) ?? '',
          })),
          triggerSubscription,
          runPolicy,
        };
        const sub =
          triggerSubscription === undefined
            ? undefined
            : await subscriptionState(triggerSubscription);
        return [spec.name, state, sub] as [string, FunctionState, SubscriptionState | undefined];
      }),
    );
    return found.filter((item) => item !== undefined);
  }

  async function observeJob(): Promise<ProjectState['schedulerJob']> {
    const job = (await get([
      'scheduler',
      'jobs',
      'describe',
      desired.schedulerJob.name,
      `--location=${desired.schedulerLocation}`,
    ])) as Json | undefined;
    if (job === undefined) return undefined;
    const target = (job.pubsubTarget ?? {}) as Json;
    return {
      schedule: str(job.schedule) ?? '',
      timeZone: str(job.timeZone) ?? '',
      topic: str(target.topicName) ?? '',
      body: Buffer.from(str(target.data) ?? '', 'base64').toString('utf8'),
    };
  }
}

function indexOf(index: Json): CompositeIndex {
  const match = /collectionGroups\/([^/]+)\/indexes\//.exec(str(index.name) ?? '');
  const fields = asArray(index.fields)
    .map((field) => ({
      fieldPath: str(field.fieldPath) ?? '',
      mode: str(field.order) ?? str(field.arrayConfig) ?? '',
    }))
    // Firestore appends the implicit __name__ ordering to every listed index.
    .filter((field, i, all) => !(field.fieldPath === '__name__' && i === all.length - 1));
  return { collectionGroup: match?.[1] ?? '', queryScope: str(index.queryScope) ?? '', fields };
}

function policyOf(value: unknown): IamPolicy {
  const bindings = asArray((value as Json | undefined)?.bindings).map((binding): Binding => ({
    role: str(binding.role) ?? '',
    members: Array.isArray(binding.members)
      ? (binding.members as unknown[]).filter((m): m is string => typeof m === 'string')
      : [],
  }));
  return { bindings };
}

function asArray(value: unknown): Json[] {
  return Array.isArray(value)
    ? value.filter((item): item is Json => typeof item === 'object' && item !== null)
    : [];
}

function asStrings(value: unknown): string[] {
  return Array.isArray(value)
    ? value.filter((item): item is string => typeof item === 'string')
    : [];
}

/** `projects/P/dashboards/ID` → ID. */
function lastPart(name: string | undefined): string {
  return (name ?? '').split('/').pop() ?? '';
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;
}

function stringRecord(value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null) return {};
  return Object.fromEntries(
    Object.entries(value).filter(
      (entry): entry is [string, string] => typeof entry[1] === 'string',
    ),
  );
}

/** At most `max` gcloud processes at once (each is a Python interpreter). */
function limit(gcloud: Gcloud, max: number): Gcloud {
  let running = 0;
  const waiting: (() => void)[] = [];
  return {
    async run(args, stdin) {
      // A finishing call hands its slot straight to the next waiter.
      if (running >= max) await new Promise<void>((resolve) => waiting.push(resolve));
      else running++;
      try {
        return await gcloud.run(args, stdin);
      } finally {
        const next = waiting.shift();
        if (next) next();
        else running--;
      }
    },
  };
}

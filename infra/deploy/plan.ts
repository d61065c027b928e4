// The plan builder: desired deployment + observed project state in, the list of mutating gcloud
// steps out. Pure and deterministic: it describes nothing and runs nothing. Every step exists
// only because the state lacks something, so planning against the state a run produced yields
// an empty plan (a second run changes nothing).
import { createHash } from 'node:crypto';
import type { KeyPurpose } from '../../shared/crypto/keyset.ts';
import type { Desired, DesiredFunction, KmsKey } from './desired.ts';
import { planKeys, retireReplaced } from './plan-keys.ts';
import { planMonitoring } from './plan-monitoring.ts';
import type { KeyPlan } from './plan-keys.ts';
import { DELIVERY, PLATFORM_ENV, PUBLIC_MEMBERS, ROLES, SECRETS, SPEC_LABEL } from './resources.ts';
import { hasMember, membersWith } from './state.ts';
import type { CompositeIndex, FunctionState, IamPolicy, ProjectState } from './state.ts';

/** Where a keyset sent to gcloud comes from; secret-inputs.ts makes it in memory, at apply time. */
export type KeysetSource =
  | { readonly kind: 'generated' }
  /** One purpose's keys of the master keyset in that version (purposeKeysetJson: a migration). */
  | { readonly kind: 'split'; readonly secret: string; readonly version: number }
  /** The raw purpose keyset in that version, as it is (to wrap it). */
  | { readonly kind: 'stored'; readonly secret: string; readonly version: number };

/** Data that goes to gcloud on standard input; the plan names it and never holds it. */
export type SecretInput =
  | { readonly kind: 'client-secret' }
  /** A new DPoP key set of one ES256 key (dpop-keys.ts). */
  | { readonly kind: 'dpop-keys' }
  | {
      readonly kind: 'keyset';
      readonly purpose: KeyPurpose;
      readonly source: KeysetSource;
      /**
       * Wrapped with this key first (`gcloud kms encrypt`, kms.ts): what reaches the secret is
       * {"wrapped":{"kmsKey","purpose","ciphertext"}}, never the keyset itself.
       */
      readonly wrapWith?: KmsKey;
    };

export interface GcloudStep {
  readonly kind: 'gcloud';
  readonly title: string;
  /** Arguments after `gcloud`. Never a secret value. */
  readonly args: readonly string[];
  readonly stdin?: SecretInput;
  /** Set when the arguments name something that exists only after earlier steps (shown as <…>). */
  readonly pending?: string;
  /** Retried a few times on failure: what it needs may take a moment to be seen. */
  readonly retriable?: boolean;
}

/** Create a ruleset from the repository's rules file and release it (Firebase Rules API). */
export interface RulesStep {
  readonly kind: 'rules';
  readonly title: string;
  readonly database: string;
  readonly source: string;
}

export type Step = GcloudStep | RulesStep;

export interface Plan {
  readonly steps: readonly Step[];
  /** Blocking: a real run refuses to start while any is present. */
  readonly problems: readonly string[];
  /** Informational: things the deploy deliberately leaves alone. */
  readonly notes: readonly string[];
}

export function isReady(step: Step): boolean {
  return step.kind === 'rules' || step.pending === undefined;
}

export function pubsubAgent(projectNumber: string | undefined): string {
  return `serviceAccount:service-${projectNumber ?? '<PROJECT_NUMBER>'}@gcp-sa-pubsub.iam.gserviceaccount.com`;
}

export function buildPlan(desired: Desired, state: ProjectState): Plan {
  return new Planner(desired, state).build();
}

/** What a part of the planner (plan-keys.ts) sees and may add to. */
export interface PlanContext {
  readonly desired: Desired;
  readonly state: ProjectState;
  gcloud(title: string, args: string[], extra?: Partial<GcloudStep>): void;
  problem(text: string): void;
  note(text: string): void;
}

class Planner implements PlanContext {
  readonly desired: Desired;
  readonly state: ProjectState;
  private readonly steps: Step[] = [];
  private readonly problems: string[] = [];
  private readonly notes: string[] = [];
  private readonly project: string;

  constructor(desired: Desired, state: ProjectState) {
    this.desired = desired;
    this.state = state;
    this.project = `--project=${desired.project}`;
  }

  build(): Plan {
    this.apis();
    this.serviceAccounts();
    const keys = planKeys(this);
    this.firestore();
    this.pubsub();
    this.projectGrants();
    const deploying = this.functions(keys);
    // Only once every function pins the versions that replaced them.
    retireReplaced(this, keys.replaced);
    this.invokers(deploying);
    this.triggerSubscriptions();
    this.scheduler();
    planMonitoring(this);
    return { steps: this.steps, problems: this.problems, notes: this.notes };
  }

  problem(text: string): void {
    this.problems.push(text);
  }

  note(text: string): void {
    this.notes.push(text);
  }

  /**
   * `--project` goes before the first flag, and flags that name a resource take its full name
   * where gcloud accepts one: gcloud resolves some short names while it parses the flag, against
   * the project it knows by then, which is the operator's default project when `--project` comes
   * later (`scheduler jobs create pubsub --topic`, issue 16; test/deploy/real-gcloud.test.ts).
   */
  gcloud(title: string, args: string[], extra: Partial<GcloudStep> = {}): void {
    const flag = args.findIndex((arg) => arg.startsWith('--'));
    const at = flag === -1 ? args.length : flag;
    this.steps.push({
      kind: 'gcloud',
      title,
      args: [...args.slice(0, at), this.project, ...args.slice(at)],
      ...extra,
    });
  }

  private topicName(id: string): string {
    return `projects/${this.desired.project}/topics/${id}`;
  }

  private get agentPending(): Partial<GcloudStep> {
    return this.state.projectNumber === undefined ? { pending: 'the project number' } : {};
  }

  private apis(): void {
    const missing = this.desired.apis.filter((api) => !this.state.enabledServices.includes(api));
    if (missing.length === 0) return;
    this.gcloud('Enable the APIs', ['services', 'enable', ...missing]);
    // Dead-lettering needs the Pub/Sub service agent to exist before it is granted anything.
    if (missing.includes('pubsub.googleapis.com'))
      this.gcloud('Create the Pub/Sub service agent', [
        'beta',
        'services',
        'identity',
        'create',
        '--service=pubsub.googleapis.com',
      ]);
  }

  private serviceAccounts(): void {
    const accounts = [
      ...this.desired.functions.map((fn) => ({
        email: fn.serviceAccount,
        displayName: `consent-vault ${fn.spec.name} function`,
      })),
      {
        email: this.desired.schedulerAccount,
        displayName: 'consent-vault scheduled chain (tick and work delivery)',
      },
    ];
    for (const { email, displayName } of accounts) {
      const existing = this.state.serviceAccounts[email];
      const accountId = email.slice(0, email.indexOf('@'));
      if (existing === undefined)
        this.gcloud(`Create service account ${accountId}`, [
          'iam',
          'service-accounts',
          'create',
          accountId,
          `--display-name=${displayName}`,
        ]);
      else if (existing.displayName !== displayName)
        this.gcloud(`Update service account ${accountId}`, [
          'iam',
          'service-accounts',
          'update',
          email,
          `--display-name=${displayName}`,
        ]);
    }
  }

  private firestore(): void {
    const { database, firestoreLocation } = this.desired;
    const db = `--database=${database}`;
    const observed = this.state.firestore;
    if (observed.database === undefined)
      this.gcloud(`Create Firestore database ${database} (native mode)`, [
        'firestore',
        'databases',
        'create',
        db,
        `--location=${firestoreLocation}`,
        '--type=firestore-native',
      ]);
    else if (observed.database.type !== 'FIRESTORE_NATIVE')
      this.problems.push(
        `Firestore database ${database} is in ${observed.database.type} mode; consent-vault needs native mode`,
      );

    const key = (index: CompositeIndex): string =>
      `${index.collectionGroup}|${index.queryScope}|${index.fields.map((f) => `${f.fieldPath}:${f.mode}`).join(',')}`;
    const existing = new Set(observed.indexes.map(key));
    const wanted = new Set(this.desired.indexes.map(key));
    for (const index of this.desired.indexes) {
      if (existing.has(key(index))) continue;
      this.gcloud(`Create a composite index on ${index.collectionGroup}`, [
        'firestore',
        'indexes',
        'composite',
        'create',
        `--collection-group=${index.collectionGroup}`,
        `--query-scope=${index.queryScope === 'COLLECTION_GROUP' ? 'collection-group' : 'collection'}`,
        ...index.fields.map((field) =>
          field.mode === 'CONTAINS'
            ? `--field-config=field-path=${field.fieldPath},array-config=contains`
            : `--field-config=field-path=${field.fieldPath},order=${field.mode.toLowerCase()}`,
        ),
        db,
        '--async',
      ]);
    }
    for (const index of observed.indexes)
      if (!wanted.has(key(index)))
        this.notes.push(
          `composite index on ${index.collectionGroup} (${index.fields.map((f) => f.fieldPath).join(', ')}) is not in the indexes file; left in place`,
        );

    // Exemptions first and synchronously: Firestore runs one update per field at a time.
    for (const field of this.desired.exemptFields) {
      const has = observed.exemptFields.some(
        (f) => f.collectionGroup === field.collectionGroup && f.field === field.field,
      );
      if (!has)
        this.gcloud(`Turn off single-field indexes of ${field.collectionGroup}.${field.field}`, [
          'firestore',
          'indexes',
          'fields',
          'update',
          field.field,
          `--collection-group=${field.collectionGroup}`,
          '--disable-indexes',
          db,
        ]);
    }
    for (const ttl of this.desired.ttlFields) {
      const has = observed.ttlFields.some(
        (f) => f.collectionGroup === ttl.collectionGroup && f.field === ttl.field,
      );
      if (!has)
        this.gcloud(`Expire ${ttl.collectionGroup} documents at ${ttl.field} (TTL policy)`, [
          'firestore',
          'fields',
          'ttls',
          'update',
          ttl.field,
          `--collection-group=${ttl.collectionGroup}`,
          '--enable-ttl',
          db,
          '--async',
        ]);
    }

    if (observed.rulesSource !== this.desired.rulesSource)
      this.steps.push({
        kind: 'rules',
        title: `Release the repository's Firestore rules for database ${database}`,
        database,
        source: this.desired.rulesSource,
      });
  }

  private pubsub(): void {
    const { topics, deadLetterSubscription } = this.desired;
    for (const topic of Object.values(topics))
      if (this.state.topics[topic] === undefined)
        this.gcloud(`Create topic ${topic}`, ['pubsub', 'topics', 'create', topic]);
    if (this.state.subscriptions[deadLetterSubscription] === undefined)
      this.gcloud(`Keep dead letters for 7 days in ${deadLetterSubscription}`, [
        'pubsub',
        'subscriptions',
        'create',
        deadLetterSubscription,
        `--topic=${this.topicName(topics.deadLetter)}`,
        '--message-retention-duration=7d',
        '--expiration-period=never',
      ]);

    const publishers = new Map<string, { members: string[]; pending: boolean }>();
    for (const key of ['tick', 'work', 'events'] as const)
      publishers.set(topics[key], {
        members: this.desired.functions
          .filter((fn) => fn.spec.publishes.includes(key))
          .map((fn) => `serviceAccount:${fn.serviceAccount}`),
        pending: false,
      });
    // Pub/Sub forwards undeliverable messages as its own service agent.
    publishers.set(topics.deadLetter, {
      members: [pubsubAgent(this.state.projectNumber)],
      pending: this.state.projectNumber === undefined,
    });
    for (const [topic, { members, pending }] of publishers) {
      const policy = this.state.topics[topic]?.policy ?? { bindings: [] };
      for (const member of members)
        if (!hasMember(policy, ROLES.publisher, member))
          this.gcloud(
            `Let ${member.slice(15)} publish to ${topic}`,
            [
              'pubsub',
              'topics',
              'add-iam-policy-binding',
              topic,
              `--member=${member}`,
              `--role=${ROLES.publisher}`,
            ],
            pending ? this.agentPending : {},
          );
    }
  }

  /** roles/datastore.user is the one project-level role, for the functions that use Firestore. */
  private projectGrants(): void {
    for (const fn of this.desired.functions) {
      if (!fn.spec.firestore) continue;
      const member = `serviceAccount:${fn.serviceAccount}`;
      if (!hasMember(this.state.projectPolicy, ROLES.firestore, member))
        this.gcloud(`Let the ${fn.spec.name} function use Firestore`, [
          'projects',
          'add-iam-policy-binding',
          this.desired.project,
          `--member=${member}`,
          `--role=${ROLES.firestore}`,
          '--condition=None',
        ]);
    }
  }

  /** Returns the names of the functions deployed by this plan. */
  private functions({ versions, unmounted, env: own }: KeyPlan): Set<string> {
    const deploying = new Set<string>();
    for (const fn of this.desired.functions) {
      const keys = fn.spec.secrets.filter((key) => !unmounted.includes(key));
      const secrets = keys.map((key) => ({
        key: SECRETS[key].env,
        secret: SECRETS[key].name,
        version: versions[key] ?? '<no enabled version>',
      }));
      // Every function's settings, and those the key plan sets on this one only.
      const env = { ...this.desired.env, ...own[fn.spec.name] };
      const args = this.deployArgs(fn, env, secrets);
      const spec = specHash(args, fn.sourceHash);
      const observed = this.state.functions[fn.spec.name];
      const reason =
        observed === undefined
          ? 'create'
          : observed.labels[SPEC_LABEL] !== spec
            ? 'code or settings changed'
            : drift(observed, fn, env, secrets);
      if (reason === undefined) continue;
      deploying.add(fn.spec.name);
      this.gcloud(`Deploy function ${fn.spec.name} (${reason})`, [
        ...args,
        `--update-labels=${SPEC_LABEL}=${spec}`,
      ]);
    }
    return deploying;
  }

  private deployArgs(
    fn: DesiredFunction,
    env: Readonly<Record<string, string>>,
    secrets: readonly { key: string; secret: string; version: string }[],
  ): string[] {
    const { spec } = fn;
    const trigger =
      spec.trigger === 'http'
        ? ['--trigger-http', spec.public ? '--allow-unauthenticated' : '--no-allow-unauthenticated']
        : [
            // A topic id only: gcloud refuses a full name here and resolves the id against the
            // project once all flags are read, i.e. --project (the flag's reference:
            // https://cloud.google.com/sdk/gcloud/reference/functions/deploy#--trigger-topic).
            `--trigger-topic=${this.desired.topics[spec.trigger]}`,
            `--trigger-service-account=${this.desired.schedulerAccount}`,
            '--retry',
            '--no-allow-unauthenticated',
          ];
    return [
      'functions',
      'deploy',
      spec.name,
      '--gen2',
      `--region=${this.desired.region}`,
      '--runtime=nodejs24',
      `--source=${fn.source}`,
      `--entry-point=${spec.name}`,
      ...trigger,
      `--service-account=${fn.serviceAccount}`,
      `--memory=${spec.memory}`,
      `--cpu=${spec.cpu}`,
      `--concurrency=${spec.concurrency}`,
      `--max-instances=${fn.maxInstances}`,
      `--min-instances=${fn.minInstances}`,
      `--timeout=${spec.timeoutSeconds}s`,
      // Pub/Sub and Eventarc deliveries count as internal traffic; browsers need `all`.
      `--ingress-settings=${spec.trigger === 'http' ? 'all' : 'internal-only'}`,
      `--set-env-vars=${envVarsArg(env)}`,
      // Full secret names, https://cloud.google.com/sdk/gcloud/reference/functions/deploy#--set-secrets
      `--set-secrets=${secrets.map((s) => `${s.key}=projects/${this.desired.project}/secrets/${s.secret}:${s.version}`).join(',')}`,
      '--quiet',
    ];
  }

  private invokers(deploying: Set<string>): void {
    for (const fn of this.desired.functions) {
      const { name } = fn.spec;
      const observed = this.state.functions[name];
      const policy = observed?.runPolicy ?? { bindings: [] };
      const binding = (verb: 'add' | 'remove', member: string, title: string): void =>
        this.gcloud(title, [
          'functions',
          `${verb}-invoker-policy-binding`,
          name,
          `--region=${this.desired.region}`,
          `--member=${member}`,
        ]);
      if (fn.spec.public) {
        // A deploy with --allow-unauthenticated sets this binding itself.
        if (
          observed !== undefined &&
          !deploying.has(name) &&
          !hasMember(policy, ROLES.invoker, 'allUsers')
        )
          binding('add', 'allUsers', `Make ${name} public`);
        continue;
      }
      if (observed !== undefined && !deploying.has(name))
        for (const member of PUBLIC_MEMBERS)
          if (hasMember(policy, ROLES.invoker, member))
            binding('remove', member, `Make ${name} private again (remove ${member})`);
      const member = `serviceAccount:${this.desired.schedulerAccount}`;
      if (!hasMember(policy, ROLES.invoker, member))
        binding('add', member, `Let the trigger identity invoke ${name}`);
      this.noteExtraMembers(`function ${name}`, policy, ROLES.invoker, [member]);
    }
  }

  private triggerSubscriptions(): void {
    const deadLetter = this.desired.topics.deadLetter;
    for (const fn of this.desired.functions) {
      if (fn.spec.trigger === 'http') continue;
      const id = this.state.functions[fn.spec.name]?.triggerSubscription;
      const pending = id === undefined ? { pending: `the trigger of ${fn.spec.name}` } : {};
      const subscription = id ?? `<trigger subscription of ${fn.spec.name}>`;
      const observed = id === undefined ? undefined : this.state.subscriptions[id];
      const configured =
        observed !== undefined &&
        observed.deadLetterTopic === this.topicName(deadLetter) &&
        observed.maxDeliveryAttempts === DELIVERY.maxDeliveryAttempts &&
        seconds(observed.minimumBackoff) === seconds(DELIVERY.minimumBackoff) &&
        seconds(observed.maximumBackoff) === seconds(DELIVERY.maximumBackoff);
      if (!configured)
        this.gcloud(
          `Retry ${fn.spec.name} deliveries with backoff, then dead-letter them to ${deadLetter}`,
          [
            'pubsub',
            'subscriptions',
            'update',
            subscription,
            `--dead-letter-topic=${this.topicName(deadLetter)}`,
            `--max-delivery-attempts=${DELIVERY.maxDeliveryAttempts}`,
            `--min-retry-delay=${DELIVERY.minimumBackoff}`,
            `--max-retry-delay=${DELIVERY.maximumBackoff}`,
          ],
          pending,
        );
      const agent = pubsubAgent(this.state.projectNumber);
      if (!hasMember(observed?.policy ?? { bindings: [] }, ROLES.subscriber, agent))
        this.gcloud(
          `Let Pub/Sub dead-letter ${fn.spec.name}'s messages (subscriber on its subscription)`,
          [
            'pubsub',
            'subscriptions',
            'add-iam-policy-binding',
            subscription,
            `--member=${agent}`,
            `--role=${ROLES.subscriber}`,
          ],
          id === undefined ? pending : this.agentPending,
        );
    }
  }

  private scheduler(): void {
    const job = this.desired.schedulerJob;
    const observed = this.state.schedulerJob;
    const flags = [
      `--location=${this.desired.schedulerLocation}`,
      `--schedule=${job.schedule}`,
      `--time-zone=${job.timeZone}`,
      `--topic=${this.topicName(this.desired.topics.tick)}`,
      `--message-body=${job.body}`,
    ];
    if (observed === undefined)
      this.gcloud(`Create Cloud Scheduler job ${job.name}`, [
        'scheduler',
        'jobs',
        'create',
        'pubsub',
        job.name,
        ...flags,
        '--description=consent-vault: publishes the tick that starts a run',
      ]);
    else if (
      observed.schedule !== job.schedule ||
      observed.timeZone !== job.timeZone ||
      observed.topic !== this.topicName(this.desired.topics.tick) ||
      observed.body !== job.body
    )
      this.gcloud(`Update Cloud Scheduler job ${job.name}`, [
        'scheduler',
        'jobs',
        'update',
        'pubsub',
        job.name,
        ...flags,
      ]);
  }

  private noteExtraMembers(
    what: string,
    policy: IamPolicy,
    role: string,
    wanted: readonly string[],
  ): void {
    const extra = membersWith(policy, role).filter(
      (member) => !wanted.includes(member) && !PUBLIC_MEMBERS.includes(member),
    );
    if (extra.length > 0)
      this.notes.push(
        `${what}: ${role} also held by ${extra.join(', ')} (not granted by this deploy)`,
      );
  }
}

/** Why a function whose spec label matches must still be deployed (changed outside the deploy). */
function drift(
  observed: FunctionState,
  fn: DesiredFunction,
  env: Readonly<Record<string, string>>,
  secrets: readonly { key: string; secret: string; version: string }[],
): string | undefined {
  if (observed.serviceAccount !== undefined && observed.serviceAccount !== fn.serviceAccount)
    return 'service account changed outside the deploy';
  const actual = Object.entries(observed.environment).filter(
    ([key]) => !PLATFORM_ENV.includes(key),
  );
  const same =
    actual.length === Object.keys(env).length && actual.every(([key, value]) => env[key] === value);
  if (!same) return 'environment changed outside the deploy';
  const wanted = secrets.map((s) => `${s.key}=${s.secret}:${s.version}`).sort();
  const got = observed.secrets.map((s) => `${s.key}=${lastSegment(s.secret)}:${s.version}`).sort();
  if (wanted.join(',') !== got.join(',')) return 'secrets changed outside the deploy';
  return undefined;
}

/** Label value naming exactly what was deployed: the arguments and the built code. */
export function specHash(args: readonly string[], sourceHash: string | undefined): string {
  return createHash('sha256')
    .update(JSON.stringify({ args, source: sourceHash ?? 'unbuilt' }))
    .digest('hex')
    .slice(0, 32);
}

/**
 * `--set-env-vars` with gcloud's alternate delimiter (`^D^K=V D K=V`, see `gcloud topic escaping`)
 * so that values may hold commas (RETURN_TO_ALLOWLIST, REVOKE_CALLERS).
 */
export function envVarsArg(env: Readonly<Record<string, string>>): string {
  const pairs = Object.keys(env)
    .sort()
    .map((key) => `${key}=${env[key] ?? ''}`);
  const delimiter = [';', '|', '~', '@', '!'].find((d) => pairs.every((p) => !p.includes(d)));
  if (delimiter === undefined)
    throw new Error('every env-var delimiter (; | ~ @ !) occurs in some setting value');
  return `^${delimiter}^${pairs.join(delimiter)}`;
}

function lastSegment(name: string | undefined): string | undefined {
  return name?.split('/').pop();
}

function seconds(duration: string | undefined): number | undefined {
  const match = /^(\d+(?:\.\d+)?)s$/.exec(duration ?? '');
  return match ? Number(match[1]) : undefined;
}

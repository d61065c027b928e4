// What the deploy knows about a project: the result of read-only describes (observe.ts), the
// input of the pure plan builder (plan.ts). Only the fields the plan compares are kept.

export interface Binding {
  readonly role: string;
  readonly members: readonly string[];
}

export interface IamPolicy {
  readonly bindings: readonly Binding[];
}

export interface SecretVersion {
  readonly number: number;
  /** ENABLED | DISABLED | DESTROYED */
  readonly state: string;
}

/**
 * What a keyset secret's newest enabled version holds, never the value: observe.ts reads the
 * token keyset to tell a master keyset (the old model, to be split) from a purpose keyset, raw
 * or wrapped by Cloud KMS (infra/deploy/keyset.ts).
 */
export type StoredKeyset =
  | { readonly format: 'master' }
  | { readonly format: 'purpose'; readonly purpose: string }
  | { readonly format: 'wrapped'; readonly purpose: string; readonly kmsKey: string }
  | { readonly format: 'invalid'; readonly reason: string };

export interface SecretState {
  readonly versions: readonly SecretVersion[];
  readonly policy: IamPolicy;
  /** Read for the token keyset only; undefined when not read. */
  readonly content?: StoredKeyset;
}

/** A version of a Cloud KMS key (`gcloud kms keys versions list`). */
export interface KmsKeyVersion {
  readonly number: number;
  /** ENABLED | DISABLED | DESTROYED | DESTROY_SCHEDULED | PENDING_GENERATION | … */
  readonly state: string;
  /** EC_SIGN_P256_SHA256 for an ES256 key. */
  readonly algorithm: string;
}

/** The Cloud KMS key that signs DPoP proofs (resources.ts DPOP_KMS). */
export interface DpopKeyState {
  /** ASYMMETRIC_SIGN for an asymmetric signing key. */
  readonly purpose: string;
  /** Of its version template: what a new version gets. */
  readonly algorithm: string | undefined;
  /** SOFTWARE | HSM | … */
  readonly protectionLevel: string | undefined;
  readonly versions: readonly KmsKeyVersion[];
  readonly policy: IamPolicy;
}

/** The deploy's one key ring and its keys (resources.ts KMS, DPOP_KMS), in the desired location. */
export interface KmsState {
  readonly keyRing: boolean;
  readonly key:
    | {
        /** ENCRYPT_DECRYPT for a symmetric encryption key. */
        readonly purpose: string;
        /** The API's duration, e.g. "7776000s"; undefined without a rotation schedule. */
        readonly rotationPeriod: string | undefined;
        readonly policy: IamPolicy;
      }
    | undefined;
  readonly dpopKey: DpopKeyState | undefined;
}

export interface SecretEnvState {
  readonly key: string;
  readonly secret: string;
  readonly version: string;
}

export interface FunctionState {
  readonly url: string | undefined;
  readonly labels: Readonly<Record<string, string>>;
  readonly serviceAccount: string | undefined;
  readonly environment: Readonly<Record<string, string>>;
  readonly secrets: readonly SecretEnvState[];
  /** Id of the trigger's Pub/Sub subscription (Eventarc-managed), when event-triggered. */
  readonly triggerSubscription: string | undefined;
  /** IAM policy of the function's Cloud Run service (roles/run.invoker lives there). */
  readonly runPolicy: IamPolicy;
}

export interface SubscriptionState {
  readonly topic: string | undefined;
  readonly deadLetterTopic: string | undefined;
  readonly maxDeliveryAttempts: number | undefined;
  readonly minimumBackoff: string | undefined;
  readonly maximumBackoff: string | undefined;
  readonly policy: IamPolicy;
}

export interface IndexField {
  readonly fieldPath: string;
  /** ASCENDING | DESCENDING, or CONTAINS for array-config. */
  readonly mode: string;
}

export interface CompositeIndex {
  readonly collectionGroup: string;
  /** COLLECTION | COLLECTION_GROUP */
  readonly queryScope: string;
  readonly fields: readonly IndexField[];
}

/** A field of a collection group (TTL policy or index exemption). */
export interface TtlField {
  readonly collectionGroup: string;
  readonly field: string;
}

export interface FirestoreState {
  /** undefined: no database. */
  readonly database: { readonly type: string; readonly location: string } | undefined;
  readonly indexes: readonly CompositeIndex[];
  readonly ttlFields: readonly TtlField[];
  /** Fields exempted from single-field indexing. */
  readonly exemptFields: readonly TtlField[];
  /** Source of the released Firestore rules; undefined when none is released. */
  readonly rulesSource: string | undefined;
}

export interface SchedulerJobState {
  readonly schedule: string;
  readonly timeZone: string;
  /**
   * Full topic name, projects/P/topics/T: a job made with a short --topic may target the topic of
   * the operator's default project instead (issue 16), which the deploy must see and repair.
   */
  readonly topic: string;
  /** Decoded message body. */
  readonly body: string;
}

/** A dashboard or an alerting policy as listed: its id (last part of its name) and its fields. */
export interface MonitoringResource {
  readonly id: string;
  readonly displayName: string;
  readonly body: Readonly<Record<string, unknown>>;
}

/** What plan-monitoring.ts compares: what gcloud lists, as it lists it. */
export interface MonitoringState {
  /** Log-based metrics by name. */
  readonly metrics: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  readonly dashboards: readonly MonitoringResource[];
  /** With the ids of the notification channels each notifies. */
  readonly policies: readonly (MonitoringResource & { readonly channels: readonly string[] })[];
  /** Email notification channels; listed only with --alert-email. */
  readonly emailChannels: readonly { readonly id: string; readonly email: string }[];
}

export interface ProjectState {
  /** undefined only when nothing was observed (dry run with --assume-empty). */
  readonly projectNumber: string | undefined;
  readonly enabledServices: readonly string[];
  readonly projectPolicy: IamPolicy;
  /** By email. */
  readonly serviceAccounts: Readonly<Record<string, { readonly displayName: string }>>;
  readonly secrets: Readonly<Record<string, SecretState>>;
  readonly kms: KmsState;
  /** By topic id. */
  readonly topics: Readonly<Record<string, { readonly policy: IamPolicy }>>;
  /** By subscription id. */
  readonly subscriptions: Readonly<Record<string, SubscriptionState>>;
  readonly firestore: FirestoreState;
  readonly functions: Readonly<Record<string, FunctionState>>;
  readonly schedulerJob: SchedulerJobState | undefined;
  readonly monitoring: MonitoringState;
}

export function emptyState(): ProjectState {
  return {
    projectNumber: undefined,
    enabledServices: [],
    projectPolicy: { bindings: [] },
    serviceAccounts: {},
    secrets: {},
    kms: { keyRing: false, key: undefined, dpopKey: undefined },
    topics: {},
    subscriptions: {},
    firestore: {
      database: undefined,
      indexes: [],
      ttlFields: [],
      exemptFields: [],
      rulesSource: undefined,
    },
    functions: {},
    schedulerJob: undefined,
    monitoring: { metrics: {}, dashboards: [], policies: [], emailChannels: [] },
  };
}

/** The newest enabled version: the one the functions pin. */
export function newestEnabled(secret: SecretState | undefined): number | undefined {
  const enabled = (secret?.versions ?? [])
    .filter((v) => v.state === 'ENABLED')
    .map((v) => v.number);
  return enabled.length === 0 ? undefined : Math.max(...enabled);
}

/**
 * The versions of the DPoP key that sign, newest first: the enabled ones, and those Cloud KMS is
 * still generating, which it enables by itself within moments (a new asymmetric key's first
 * version starts so; https://cloud.google.com/kms/docs/key-states). Version numbers only grow.
 */
export function signingVersions(key: DpopKeyState | undefined): KmsKeyVersion[] {
  return (key?.versions ?? [])
    .filter((v) => v.state === 'ENABLED' || v.state === 'PENDING_GENERATION')
    .sort((a, b) => b.number - a.number);
}

export function membersWith(policy: IamPolicy, role: string): string[] {
  return policy.bindings.filter((binding) => binding.role === role).flatMap((b) => b.members);
}

export function hasMember(policy: IamPolicy, role: string, member: string): boolean {
  return policy.bindings.some(
    (binding) => binding.role === role && binding.members.includes(member),
  );
}

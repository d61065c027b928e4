// The fixed shape of a consent-vault deployment: which functions exist, what each one may touch,
// how big each one is. Data only; desired.ts fills in names from the settings, plan.ts compares.
// Which secrets exist and which function holds which come from the settings schema
// (shared/settings/schema.ts), the same table loadConfig requires them from at start-up.
import type { KeyPurpose } from '../../shared/crypto/keyset.ts';
import type { FunctionName } from '../../shared/settings/functions.ts';
import { SETTING_SPECS, type SettingEntry } from '../../shared/settings/schema.ts';
import { SECRET_SETTINGS, secretKeysOf, type SecretKey } from '../../shared/settings/secrets.ts';

// plan.ts names secrets by key.
export type { SecretKey } from '../../shared/settings/secrets.ts';
export type TopicKey = 'tick' | 'work' | 'events' | 'deadLetter';

export interface FunctionSpec {
  readonly name: FunctionName;
  /** 'http', or the topic whose messages trigger it (Eventarc, CloudEvent signature). */
  readonly trigger: 'http' | 'tick' | 'work';
  /**
   * Reachable without platform authentication (`--allow-unauthenticated`): only where a browser
   * or Google's consent redirect must reach it. revoke is public because users click signed
   * unsubscribe links from email; its server-to-server path verifies a Google ID token in code.
   * risc is public because Google's Cross-Account Protection pushes to it without an identity the
   * platform could check; it verifies each security event token's signature in code.
   */
  readonly public: boolean;
  /** Browser-facing: `--min-instances` applies, to skip the first cold start of a user. */
  readonly browserFacing: boolean;
  readonly firestore: boolean;
  readonly secrets: readonly SecretKey[];
  readonly publishes: readonly TopicKey[];
  readonly memory: string;
  readonly cpu: string;
  readonly concurrency: number;
  /**
   * `--max-instances`. Not the worker's: the deploy sizes it from the Google call budget
   * (desired.ts, fleet.ts); its figure here is the fleet `npm run simulate` models by default.
   */
  readonly maxInstances: number;
  readonly timeoutSeconds: number;
}

// Memory sets CPU unless --cpu is given; a concurrency above 1 needs at least 1 vCPU. The
// browser-facing functions get a full vCPU because cold start at 0.167 vCPU is several times
// slower (docs/google-behaviours.md#memory-and-cpu). The dispatcher takes one tick at a time. A
// worker instance takes WORKER_DELIVERIES work messages at once while its process-wide limiter
// keeps WORKER_CONCURRENCY users in flight across all of them: one batch's reads and summary
// write, and its last users, overlap the next batch's users, so no lane idles. Memory stays
// bounded by deliveries × batch size ids plus WORKER_CONCURRENCY users; 540 s is the
// event-function maximum. risc is a webhook: one small token per request, a few Firestore
// writes and at most one Google call each, with no user waiting on its cold start, so it
// gets 256 MiB (the default), the full vCPU its concurrency needs and few instances; Google
// retries a delivery that failed (docs/google-behaviours.md#risc-on-the-wire).
/** Work messages one worker instance accepts at once (its Cloud Run concurrency). */
export const WORKER_DELIVERIES = 4;

export const FUNCTIONS: readonly FunctionSpec[] = [
  {
    name: 'authorize',
    trigger: 'http',
    public: true,
    browserFacing: true,
    firestore: false,
    secrets: secretKeysOf('authorize'),
    publishes: [],
    memory: '512Mi',
    cpu: '1',
    concurrency: 80,
    maxInstances: 10,
    timeoutSeconds: 30,
  },
  {
    name: 'callback',
    trigger: 'http',
    public: true,
    browserFacing: true,
    firestore: true,
    secrets: secretKeysOf('callback'),
    publishes: ['events'],
    memory: '512Mi',
    cpu: '1',
    concurrency: 40,
    maxInstances: 10,
    timeoutSeconds: 60,
  },
  {
    name: 'revoke',
    trigger: 'http',
    public: true,
    browserFacing: false,
    firestore: true,
    secrets: secretKeysOf('revoke'),
    publishes: ['events'],
    memory: '512Mi',
    cpu: '1',
    concurrency: 40,
    maxInstances: 5,
    timeoutSeconds: 60,
  },
  {
    name: 'dispatcher',
    trigger: 'tick',
    public: false,
    browserFacing: false,
    firestore: true,
    secrets: secretKeysOf('dispatcher'),
    // The tick too: a long run is handed over to a fresh invocation by a tick of its own
    // (shared/runs/dispatch.ts).
    publishes: ['tick', 'work', 'events'],
    memory: '1Gi',
    cpu: '1',
    concurrency: 1,
    maxInstances: 2,
    timeoutSeconds: 540,
  },
  {
    name: 'worker',
    trigger: 'work',
    public: false,
    browserFacing: false,
    firestore: true,
    secrets: secretKeysOf('worker'),
    // The work topic too: a batch whose deliveries died goes on as a fresh message
    // (shared/runs/attempts.ts).
    publishes: ['work', 'events'],
    memory: '1Gi',
    cpu: '1',
    concurrency: WORKER_DELIVERIES,
    maxInstances: 20,
    timeoutSeconds: 540,
  },
  {
    name: 'risc',
    trigger: 'http',
    public: true,
    browserFacing: false,
    firestore: true,
    secrets: secretKeysOf('risc'),
    publishes: ['events'],
    memory: '256Mi',
    cpu: '1',
    concurrency: 10,
    maxInstances: 3,
    timeoutSeconds: 60,
  },
];

/**
 * Each secret's Secret Manager id and the variable --set-secrets fills, from the schema. The cast
 * is sound: SecretKey is by definition the `key` of a secret setting, so each one is present.
 */
export const SECRETS = Object.fromEntries(
  SECRET_SETTINGS.map((spec) => [spec.key, { name: spec.secretId, env: spec.name }]),
) as Readonly<Record<SecretKey, { readonly name: string; readonly env: string }>>;

/**
 * The DPoP keys (RFC 9449, shared/oauth/dpop.ts): ES256 private JWKs by id, one primary, that
 * the code exchange and every refresh prove possession of, so that a refresh token Google bound
 * to one refreshes only with it. The deploy creates the secret with one fresh key and never
 * replaces it: a refresh token bound to a key it dropped could never be refreshed again.
 */
export const DPOP = {
  secret: 'dpopKeys',
  /** The id of the first key; a rotation adds another and makes it primary. */
  firstKeyId: 'd1',
} as const satisfies { readonly secret: SecretKey; readonly firstKeyId: string };

/**
 * The keyset secrets and the key purpose each holds (shared/crypto/keyset.ts). `satisfies` makes
 * a keyset secret added to the schema without a purpose here fail to compile. Not keysets: the
 * OAuth client secret and the DPoP keys (ES256 JWKs, DPOP above).
 */
export const KEYSETS = {
  tokenKeyset: 'token',
  cookieKeyset: 'cookie',
  linkKeyset: 'link',
  connectKeyset: 'connect',
} as const satisfies Record<Exclude<SecretKey, 'clientSecret' | typeof DPOP.secret>, KeyPurpose>;
export type KeysetKey = keyof typeof KEYSETS;

/**
 * The Cloud KMS key that wraps the token keyset (envelope encryption, shared/crypto/
 * wrapped-keyset.ts): a leaked secret version alone opens no token. Symmetric keys rotate
 * automatically; 90 days is the rotation Google's guidance and CIS GCP 1.10 ask for
 * (https://cloud.google.com/kms/docs/key-rotation). Old key versions stay enabled, so a keyset
 * wrapped before a rotation still unwraps.
 */
export const KMS = {
  api: 'cloudkms.googleapis.com',
  keyRing: 'consent-vault',
  key: 'token-keyset',
  /** gcloud's INTEGER[UNIT] form, and the same period in the API's seconds. */
  rotationPeriod: '90d',
  rotationSeconds: 90 * 24 * 3600,
  /**
   * The first rotation, one period after creation: gcloud reads an ISO 8601 duration as that
   * long from now (`gcloud topic datetimes`), which keeps the plan free of a clock.
   */
  firstRotation: '+P90D',
  /** The secret it wraps. */
  wraps: 'tokenKeyset',
} as const;

/**
 * The DPoP key held in Cloud KMS (--dpop-kms, docs/deploy.md#dpop-keys-in-cloud-kms): an
 * asymmetric signing key for ES256 (P-256, SHA-256) in the key ring above, whose private half
 * never leaves Cloud KMS: the functions sign each proof with asymmetricSign and read the public
 * key with getPublicKey. Each key version is one DPoP key; the deploy sets the setting to every
 * enabled version, newest first, so a version the operator adds binds new refresh tokens from
 * the next deploy on, and the older ones still refresh the tokens bound to them. Asymmetric keys
 * have no automatic rotation (https://cloud.google.com/kms/docs/key-rotation).
 */
export const DPOP_KMS = {
  /** The setting the deploy fills with the key's versions; the schema says who needs it. */
  setting: 'DPOP_KMS_KEYS',
  key: 'consent-vault-dpop',
  /** gcloud's words (`kms keys create --purpose --default-algorithm`) and the API's. */
  purpose: 'asymmetric-signing',
  algorithm: 'ec-sign-p256-sha256',
  apiPurpose: 'ASYMMETRIC_SIGN',
  apiAlgorithm: 'EC_SIGN_P256_SHA256',
} as const satisfies { readonly setting: SettingEntry['name'] } & Record<string, string>;

/** The functions the settings schema gives a setting to (shared/settings/table/). */
function functionsOf(name: SettingEntry['name']): readonly FunctionName[] {
  const spec = SETTING_SPECS.find((s) => s.name === name);
  if (spec === undefined) throw new Error(`setting ${name} is not in the schema`);
  return spec.functions;
}

/** The functions that sign DPoP proofs with the Cloud KMS key: the schema's DPOP_KMS_KEYS ones. */
export const DPOP_KMS_FUNCTIONS: readonly FunctionName[] = functionsOf(DPOP_KMS.setting);

/** Account id of a function's runtime service account (one per function: privileges differ). */
export function functionAccountId(name: FunctionName): string {
  return `consent-vault-${name}`;
}

/**
 * Cloud Scheduler's Pub/Sub target publishes as Google's Cloud Scheduler service agent and takes
 * no user identity, so the scheduled chain's own account is the one that carries the tick (and
 * the work messages) from Pub/Sub to the private functions: the Eventarc trigger identity, the
 * only holder of roles/run.invoker on dispatcher and worker.
 */
export const SCHEDULER_ACCOUNT_ID = 'consent-vault-scheduler';

/**
 * The account the summary suggests for registering Cross-Account Protection's stream
 * (roles/riscconfigs.admin, used with a key by `npm run risc`). Not created by the deploy.
 */
export const RISC_ADMIN_ACCOUNT_ID = 'consent-vault-risc-admin';

export const APIS: readonly string[] = [
  'cloudfunctions.googleapis.com',
  'run.googleapis.com',
  'cloudbuild.googleapis.com',
  'artifactregistry.googleapis.com',
  'eventarc.googleapis.com',
  'pubsub.googleapis.com',
  'firestore.googleapis.com',
  'firebaserules.googleapis.com',
  'secretmanager.googleapis.com',
  // Only with the token keyset wrapped (the default; desired.ts drops it for --no-kms).
  KMS.api,
  'cloudscheduler.googleapis.com',
  'iam.googleapis.com',
  // Log-based metrics (Logging), the dashboard and the alerting policies (Monitoring).
  'logging.googleapis.com',
  'monitoring.googleapis.com',
  // Cross-Account Protection: the stream `npm run risc` registers (infra/ops/risc.ts).
  'risc.googleapis.com',
];

/** Collection groups of the data model whose documents expire (field `expireAt`). */
export const TTL_COLLECTION_GROUPS: readonly string[] = [
  'revocations',
  'runs',
  'dispatched',
  'batches',
  'ledger',
  'deadLetters',
  'deliveries',
  'control',
  'callbackStates',
  'connectLinks',
  'securityEvents',
];
export const TTL_FIELD = 'expireAt';

/** Retry and dead-lettering of the trigger subscriptions. */
export const DELIVERY = {
  minimumBackoff: '10s',
  maximumBackoff: '600s',
  maxDeliveryAttempts: 5,
} as const;

export const ROLES = {
  firestore: 'roles/datastore.user',
  secretAccessor: 'roles/secretmanager.secretAccessor',
  publisher: 'roles/pubsub.publisher',
  subscriber: 'roles/pubsub.subscriber',
  invoker: 'roles/run.invoker',
  kmsDecrypter: 'roles/cloudkms.cryptoKeyDecrypter',
  /**
   * On the DPoP key only: asymmetricSign needs cloudkms.cryptoKeyVersions.useToSign (signer) and
   * getPublicKey cloudkms.cryptoKeyVersions.viewPublicKey (publicKeyViewer). Not signerVerifier:
   * it adds verification (useToVerify), which no function does.
   * https://cloud.google.com/kms/docs/reference/permissions-and-roles
   */
  kmsSigner: 'roles/cloudkms.signer',
  kmsPublicKeyViewer: 'roles/cloudkms.publicKeyViewer',
} as const;

export const PUBLIC_MEMBERS: readonly string[] = ['allUsers', 'allAuthenticatedUsers'];

/** Environment variables gcloud adds by itself; ignored when comparing. */
export const PLATFORM_ENV: readonly string[] = ['LOG_EXECUTION_ID'];

export const SPEC_LABEL = 'consent-vault-spec';

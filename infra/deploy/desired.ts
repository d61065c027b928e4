// The desired deployment: options + env file + repository files in, every name, URL, setting and
// grant out. Pure. The functions' settings are validated with the functions' own loadConfig, so
// a deploy that would crash every instance at start-up stops here instead.
import { loadConfig } from '../../shared/settings/config.ts';
import { readSettings } from '../../shared/settings/read.ts';
import { ConfigError } from '../../shared/errors.ts';
import type { FunctionName } from '../../shared/settings/functions.ts';
import type { MonitoringDefinitions } from '../monitoring/definitions.ts';
import type { DeployOptions, DpopMode } from './args.ts';
import { callsPerUser, parseApiBudgets, sizeWorkerFleet, type WorkerFleet } from './fleet.ts';
import { jobRequirements, type ConsentScope } from './jobs.ts';
import {
  DPOP_KMS,
  FUNCTIONS,
  functionAccountId,
  KMS,
  SCHEDULER_ACCOUNT_ID,
  TTL_COLLECTION_GROUPS,
  TTL_FIELD,
} from './resources.ts';
import type { FunctionSpec, TopicKey } from './resources.ts';
import type { CompositeIndex, TtlField } from './state.ts';

export interface DesiredFunction {
  readonly spec: FunctionSpec;
  readonly source: string;
  /** Hash of the built folder; undefined when it is not built (dry run). */
  readonly sourceHash: string | undefined;
  readonly minInstances: number;
  /** The spec's, except the worker's: sized from the Google call budget (./fleet.ts). */
  readonly maxInstances: number;
  readonly serviceAccount: string;
}

/** A Cloud KMS key: its full name (what a wrapped keyset records) and the parts gcloud takes. */
export interface KmsKey {
  readonly project: string;
  readonly location: string;
  readonly keyRing: string;
  readonly key: string;
  /** projects/P/locations/L/keyRings/R/cryptoKeys/K */
  readonly name: string;
}

export interface Desired {
  readonly project: string;
  readonly region: string;
  readonly schedulerLocation: string;
  readonly firestoreLocation: string;
  readonly database: string;
  /** The platform's APIs and every enabled job's (infra/deploy/jobs.ts). */
  readonly apis: readonly string[];
  /** What the operator registers on the OAuth consent screen (printed, never applied). */
  readonly consentScopes: readonly ConsentScope[];
  readonly topics: Readonly<Record<TopicKey, string>>;
  /** Pull subscription that keeps dead letters (a topic without subscriptions drops them). */
  readonly deadLetterSubscription: string;
  readonly functions: readonly DesiredFunction[];
  readonly schedulerAccount: string;
  /** Environment of every function (non-secret). */
  readonly env: Readonly<Record<string, string>>;
  /** The HTTP functions' own URLs (risc's is what `npm run risc -- register` takes). */
  readonly urls: Readonly<Record<'authorize' | 'callback' | 'revoke' | 'risc', string>>;
  readonly redirectUri: string;
  readonly schedulerJob: {
    readonly name: string;
    readonly schedule: string;
    readonly timeZone: string;
    readonly body: string;
  };
  readonly indexes: readonly CompositeIndex[];
  readonly ttlFields: readonly TtlField[];
  /** Fields with single-field indexing turned off (`indexes: []` in the indexes file). */
  readonly exemptFields: readonly TtlField[];
  /** Content of the rules file. */
  readonly rulesSource: string;
  readonly clientSecret: {
    /** A value was supplied (--client-secret-file). */
    readonly supplied: boolean;
    readonly rotate: boolean;
  };
  /** The key that wraps the token keyset; `wrap` is false with --no-kms (the weaker choice). */
  readonly kms: KmsKey & { readonly wrap: boolean };
  /**
   * Where the DPoP keys are created when missing (RFC 9449: refresh tokens bound to them): the
   * secret by default, the Cloud KMS key with --dpop-kms, none with --no-dpop (the weaker choice).
   * Existing DPoP keys, of either kind, are kept whatever the mode.
   */
  readonly dpop: DpopMode;
  /** The Cloud KMS key that signs DPoP proofs (resources.ts DPOP_KMS), in the key ring above. */
  readonly dpopKms: KmsKey & { readonly protectionLevel: 'software' | 'hsm' };
  /**
   * The log-based metrics, the dashboard and the alerting policies (infra/monitoring/), and the
   * address they notify (--alert-email).
   */
  readonly monitoring: MonitoringDefinitions & { readonly alertEmail: string | undefined };
  /** RUN_PERIOD_SECONDS: the policies' run deadline should be shorter. */
  readonly runPeriodSeconds: number;
  /** The worker's --max-instances and the arithmetic behind it. */
  readonly workerFleet: WorkerFleet;
}

export interface DesiredInputs {
  readonly options: DeployOptions;
  readonly envValues: Readonly<Record<string, string>>;
  readonly rulesSource: string;
  /** Content of the indexes file; undefined when the file does not exist. */
  readonly indexesJson: string | undefined;
  readonly sourceHashes: Readonly<Partial<Record<FunctionName, string>>>;
  /** The files of --monitoring, read and checked (infra/monitoring/definitions.ts). */
  readonly monitoring: MonitoringDefinitions;
}

export type DesiredResult =
  | { readonly ok: true; readonly desired: Desired }
  | { readonly ok: false; readonly problems: readonly string[] };

/** gen2 function URL: https://REGION-PROJECT.cloudfunctions.net/NAME */
export function functionUrl(region: string, project: string, name: string): string {
  return `https://${region}-${project}.cloudfunctions.net/${name}`;
}

export function serviceAccountEmail(accountId: string, project: string): string {
  return `${accountId}@${project}.iam.gserviceaccount.com`;
}

export function buildDesired(inputs: DesiredInputs): DesiredResult {
  const { options, envValues } = inputs;
  const { project, region } = options;
  const urls = {
    authorize: functionUrl(region, project, 'authorize'),
    callback: functionUrl(region, project, 'callback'),
    revoke: functionUrl(region, project, 'revoke'),
    risc: functionUrl(region, project, 'risc'),
  };
  // The functions' own URLs, unless the env file overrides them (custom domain).
  const env: Record<string, string> = {
    ...envValues,
    GOOGLE_CLOUD_PROJECT: project,
    REDIRECT_URI: envValues['REDIRECT_URI'] ?? urls.callback,
    AUTHORIZE_URL: envValues['AUTHORIZE_URL'] ?? urls.authorize,
    REVOKE_URL: envValues['REVOKE_URL'] ?? urls.revoke,
  };

  const problems: string[] = [];
  let config;
  try {
    config = loadConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return { ok: false, problems: error.problems.map((p) => `env file: ${p}`) };
  }

  const indexes = parseIndexes(inputs.indexesJson, problems);
  const overrides = parseFieldOverrides(inputs.indexesJson, problems);
  if (problems.length > 0) return { ok: false, problems };

  const jobs = jobRequirements(config);
  // Cloud KMS is a platform API only while it wraps the token keyset or holds the DPoP key (never
  // disabled, though).
  const usesKms = options.kms || options.dpop === 'kms';
  const apis = usesKms ? jobs.apis : jobs.apis.filter((api) => api !== KMS.api);
  const kmsLocation = options.kmsLocation;
  const ring = `projects/${project}/locations/${kmsLocation}/keyRings/${KMS.keyRing}`;

  // The deploy's own settings, which Config leaves out; loadConfig above has validated them.
  const sizing = readSettings(env, new Set(), []);
  const workerFleet = sizeWorkerFleet({
    budgetPerSecond: sizing.GOOGLE_CALL_BUDGET,
    apiBudgets: parseApiBudgets(sizing.GOOGLE_API_BUDGETS),
    callsPerUser: callsPerUser(jobs.calls),
    latencyMs: sizing.GOOGLE_CALL_LATENCY_MS,
    lanes: config.runs.workerConcurrency,
    override: options.workerMaxInstances,
  });

  const functions = FUNCTIONS.map((spec): DesiredFunction => ({
    spec,
    source: `${options.distDir.replace(/\/+$/, '')}/${spec.name}`,
    sourceHash: inputs.sourceHashes[spec.name],
    minInstances: spec.browserFacing ? options.minInstances : 0,
    maxInstances: spec.name === 'worker' ? workerFleet.maxInstances : spec.maxInstances,
    serviceAccount: serviceAccountEmail(functionAccountId(spec.name), project),
  }));

  return {
    ok: true,
    desired: {
      project,
      region,
      schedulerLocation: options.schedulerLocation,
      firestoreLocation: options.firestoreLocation,
      database: config.firestoreDatabase,
      apis,
      consentScopes: jobs.consentScopes,
      topics: {
        tick: config.pubsub.tickTopic,
        work: config.pubsub.workTopic,
        events: config.pubsub.eventsTopic,
        deadLetter: config.pubsub.deadLetterTopic,
      },
      deadLetterSubscription: `${config.pubsub.deadLetterTopic}-sub`,
      functions,
      schedulerAccount: serviceAccountEmail(SCHEDULER_ACCOUNT_ID, project),
      env,
      urls,
      redirectUri: config.redirectUri,
      schedulerJob: {
        name: config.pubsub.tickTopic,
        schedule: options.schedule,
        timeZone: options.timeZone,
        // The dispatcher derives the run id from the publish time and RUN_PERIOD_SECONDS.
        body: '{}',
      },
      indexes,
      // The data model's expiring collections, plus any TTL the indexes file declares.
      ttlFields: uniqueFields([
        ...TTL_COLLECTION_GROUPS.map((collectionGroup) => ({ collectionGroup, field: TTL_FIELD })),
        ...overrides.ttl,
      ]),
      exemptFields: uniqueFields(overrides.exempt),
      rulesSource: inputs.rulesSource,
      clientSecret: {
        supplied: options.clientSecretFile !== undefined,
        rotate: options.rotateClientSecret,
      },
      kms: {
        wrap: options.kms,
        project,
        location: kmsLocation,
        keyRing: KMS.keyRing,
        key: KMS.key,
        name: `${ring}/cryptoKeys/${KMS.key}`,
      },
      dpop: options.dpop,
      dpopKms: {
        project,
        location: kmsLocation,
        keyRing: KMS.keyRing,
        key: DPOP_KMS.key,
        name: `${ring}/cryptoKeys/${DPOP_KMS.key}`,
        protectionLevel: options.dpopKmsHsm ? 'hsm' : 'software',
      },
      monitoring: { ...inputs.monitoring, alertEmail: options.alertEmail },
      runPeriodSeconds: config.runs.periodSeconds,
      workerFleet,
    },
  };
}

interface IndexFileField {
  readonly fieldPath?: unknown;
  readonly order?: unknown;
  readonly arrayConfig?: unknown;
}

/** firestore.indexes.json in the Firebase CLI format; a missing file means no composite index. */
export function parseIndexes(json: string | undefined, problems: string[]): CompositeIndex[] {
  if (json === undefined) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    problems.push('indexes file: not valid JSON');
    return [];
  }
  const list = (parsed as { indexes?: unknown } | null)?.indexes ?? [];
  if (!Array.isArray(list)) {
    problems.push('indexes file: "indexes" must be an array');
    return [];
  }
  const indexes: CompositeIndex[] = [];
  list.forEach((item: unknown, i) => {
    const index = item as {
      collectionGroup?: unknown;
      queryScope?: unknown;
      fields?: unknown;
    } | null;
    const where = `indexes file: index ${i + 1}`;
    if (typeof index?.collectionGroup !== 'string' || !Array.isArray(index.fields)) {
      problems.push(`${where}: needs collectionGroup and fields`);
      return;
    }
    const queryScope = index.queryScope ?? 'COLLECTION';
    if (queryScope !== 'COLLECTION' && queryScope !== 'COLLECTION_GROUP') {
      problems.push(`${where}: queryScope must be COLLECTION or COLLECTION_GROUP`);
      return;
    }
    const fields = (index.fields as IndexFileField[]).map((field) => {
      const mode = field.order ?? field.arrayConfig;
      if (
        typeof field.fieldPath !== 'string' ||
        (mode !== 'ASCENDING' && mode !== 'DESCENDING' && mode !== 'CONTAINS')
      ) {
        problems.push(`${where}: each field needs fieldPath and order or arrayConfig: CONTAINS`);
        return { fieldPath: '', mode: '' };
      }
      return { fieldPath: field.fieldPath, mode };
    });
    indexes.push({ collectionGroup: index.collectionGroup, queryScope, fields });
  });
  return indexes;
}

function uniqueFields(fields: readonly TtlField[]): TtlField[] {
  const seen = new Set<string>();
  return fields.filter((field) => {
    const key = `${field.collectionGroup}/${field.field}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * `fieldOverrides` of firestore.indexes.json: `ttl: true` adds a TTL policy; `indexes: []` turns
 * single-field indexing off (advised for TTL timestamps, which otherwise hotspot on writes).
 */
export function parseFieldOverrides(
  json: string | undefined,
  problems: string[],
): { ttl: TtlField[]; exempt: TtlField[] } {
  const result: { ttl: TtlField[]; exempt: TtlField[] } = { ttl: [], exempt: [] };
  if (json === undefined) return result;
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return result; // reported by parseIndexes
  }
  const list = (parsed as { fieldOverrides?: unknown } | null)?.fieldOverrides ?? [];
  if (!Array.isArray(list)) {
    problems.push('indexes file: "fieldOverrides" must be an array');
    return result;
  }
  list.forEach((item: unknown, i) => {
    const override = item as {
      collectionGroup?: unknown;
      fieldPath?: unknown;
      ttl?: unknown;
      indexes?: unknown;
    } | null;
    const where = `indexes file: field override ${i + 1}`;
    if (typeof override?.collectionGroup !== 'string' || typeof override.fieldPath !== 'string') {
      problems.push(`${where}: needs collectionGroup and fieldPath`);
      return;
    }
    const field = { collectionGroup: override.collectionGroup, field: override.fieldPath };
    if (override.ttl === true) result.ttl.push(field);
    if (Array.isArray(override.indexes)) {
      if (override.indexes.length === 0) result.exempt.push(field);
      else problems.push(`${where}: custom single-field indexes are not applied by the deploy`);
    }
  });
  return result;
}

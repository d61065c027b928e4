// The fake project behind the fake gcloud and the fake Rules API: a JSON file that both read and
// write, so a second deploy run sees what the first one created.
import { readFileSync, writeFileSync, appendFileSync } from 'node:fs';

export interface FakePolicy {
  bindings: { role: string; members: string[] }[];
}

export interface FakeFunction {
  name: string;
  url: string;
  state: string;
  environment: string;
  labels: Record<string, string>;
  buildConfig: { runtime: string; entryPoint: string; source: string };
  serviceConfig: {
    service: string;
    uri: string;
    serviceAccountEmail: string;
    environmentVariables: Record<string, string>;
    secretEnvironmentVariables: {
      key: string;
      projectId: string;
      secret: string;
      version: string;
    }[];
    availableMemory: string;
    availableCpu: string;
    maxInstanceCount: number;
    minInstanceCount: number;
    maxInstanceRequestConcurrency: number;
    ingressSettings: string;
    timeoutSeconds: number;
  };
  eventTrigger?: {
    trigger: string;
    pubsubTopic: string;
    serviceAccountEmail: string;
    retryPolicy: string;
  };
}

export interface FakeSubscription {
  topic: string;
  deadLetterPolicy?: { deadLetterTopic: string; maxDeliveryAttempts: number };
  retryPolicy?: { minimumBackoff: string; maximumBackoff: string };
  messageRetentionDuration?: string;
  policy: FakePolicy;
}

export interface FakeCryptoKey {
  purpose: string;
  rotationPeriod?: string;
  nextRotationTime?: string;
  /** What a new version gets: asymmetric keys only (an encryption key's is not modelled). */
  versionTemplate?: { algorithm: string; protectionLevel: string };
  /** The versions of an asymmetric key (ENABLED, DISABLED, PENDING_GENERATION, …). */
  versions?: { number: number; state: string; algorithm: string }[];
  policy: FakePolicy;
}

export interface FakeState {
  projectId: string;
  projectNumber: string;
  accessToken: string;
  counter: number;
  services: string[];
  projectPolicy: FakePolicy;
  serviceAccounts: Record<string, { displayName: string }>;
  secrets: Record<string, { versions: { number: number; state: string }[]; policy: FakePolicy }>;
  /** Key rings by `locations/L/keyRings/R`, their keys by id. */
  kms: { keyRings: Record<string, { keys: Record<string, FakeCryptoKey> }> };
  topics: Record<string, { policy: FakePolicy }>;
  subscriptions: Record<string, FakeSubscription>;
  databases: Record<
    string,
    {
      type: string;
      locationId: string;
      indexes: {
        name: string;
        queryScope: string;
        fields: { fieldPath: string; order?: string; arrayConfig?: string }[];
        state: string;
      }[];
      ttls: { name: string; ttlConfig: { state: string } }[];
      overrides: {
        name: string;
        indexConfig: { usesAncestorConfig: boolean; indexes?: unknown[] };
      }[];
    }
  >;
  functions: Record<string, FakeFunction>;
  runPolicies: Record<string, FakePolicy>;
  eventarcTriggers: Record<string, { subscription: string }>;
  schedulerJobs: Record<
    string,
    {
      name: string;
      schedule: string;
      timeZone: string;
      pubsubTarget: { topicName: string; data: string };
      description: string;
    }
  >;
  rulesets: Record<string, string>;
  releases: Record<string, string>;
  /** Log-based metrics by name, as their files define them. */
  logMetrics: Record<string, Record<string, unknown>>;
  /** Dashboards by id, as their files define them. */
  dashboards: Record<string, Record<string, unknown>>;
  /** Alerting policies by id: the file, and the ids of the channels they notify. */
  alertPolicies: Record<string, { body: Record<string, unknown>; channels: string[] }>;
  notificationChannels: Record<
    string,
    { type: string; displayName: string; labels: Record<string, string> }
  >;
}

export interface LogEntry {
  readonly tool: 'gcloud' | 'rules-api';
  readonly args: readonly string[];
  /** Standard input as received (only the fake sees it; tests check it never leaks). */
  readonly stdin: string;
  readonly mutating: boolean;
  readonly code: number;
}

export function emptyProject(projectId: string, projectNumber = '123456789012'): FakeState {
  return {
    projectId,
    projectNumber,
    accessToken: 'ya29.fake-access-token-never-printed',
    counter: 100000,
    services: [],
    projectPolicy: {
      bindings: [{ role: 'roles/owner', members: ['user:owner@example.com'] }],
    },
    serviceAccounts: {},
    secrets: {},
    kms: { keyRings: {} },
    topics: {},
    subscriptions: {},
    databases: {},
    functions: {},
    runPolicies: {},
    eventarcTriggers: {},
    schedulerJobs: {},
    rulesets: {},
    releases: {},
    logMetrics: {},
    dashboards: {},
    alertPolicies: {},
    notificationChannels: {},
  };
}

export function readState(file: string): FakeState {
  return JSON.parse(readFileSync(file, 'utf8')) as FakeState;
}

export function writeState(file: string, state: FakeState): void {
  writeFileSync(file, `${JSON.stringify(state, null, 2)}\n`);
}

/**
 * Secret Manager's payloads, by `SECRET/VERSION`, base64: a file of their own beside the project,
 * so that the tests can check that no secret value reaches the project file, the arguments or
 * the output, and still read what the deploy stored.
 */
export type SecretData = Record<string, string>;

export function readSecretData(file: string): SecretData {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as SecretData;
  } catch {
    return {};
  }
}

export function writeSecretData(file: string, data: SecretData): void {
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
}

export function appendLog(file: string, entry: LogEntry): void {
  appendFileSync(file, `${JSON.stringify(entry)}\n`);
}

export function readLog(file: string): LogEntry[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as LogEntry);
}

export function addMember(policy: FakePolicy, role: string, member: string): void {
  let binding = policy.bindings.find((b) => b.role === role);
  if (!binding) {
    binding = { role, members: [] };
    policy.bindings.push(binding);
  }
  if (!binding.members.includes(member)) binding.members.push(member);
}

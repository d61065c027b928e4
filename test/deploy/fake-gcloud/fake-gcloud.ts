// A stand-in for `gcloud` (run through the `gcloud` shim next to this file). It records every
// call (arguments and stdin) to FAKE_GCLOUD_LOG, answers describe/list/get-iam-policy from the
// project in FAKE_GCLOUD_STATE in gcloud's JSON shapes, and applies create/update/bind calls to
// it. Like the real thing it refuses what would fail on Google Cloud: a disabled API, a missing
// resource, a grant to a service account that does not exist, a deploy of an unbuilt folder.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fakeKmsEncrypt } from './fake-kms.ts';
import {
  addMember,
  appendLog,
  readSecretData,
  readState,
  writeSecretData,
  writeState,
} from './state.ts';
import type { FakePolicy, FakeState } from './state.ts';

const READ_ONLY_VERBS = new Set([
  'describe',
  'list',
  'get-iam-policy',
  'print-access-token',
  'access',
]);

/** gcloud's --default-algorithm values of asymmetric signing keys, and the API's names. */
const SIGNING_ALGORITHMS: Readonly<Record<string, string>> = {
  'ec-sign-p256-sha256': 'EC_SIGN_P256_SHA256',
  'ec-sign-p384-sha384': 'EC_SIGN_P384_SHA384',
  'rsa-sign-pkcs1-2048-sha256': 'RSA_SIGN_PKCS1_2048_SHA256',
};

/**
 * Cloud KMS roles that can be granted on a CryptoKey
 * (https://cloud.google.com/iam/docs/roles-permissions/cloudkms), so that a misspelt one fails.
 */
const CRYPTO_KEY_ROLES: ReadonlySet<string> = new Set(
  [
    'admin',
    'cryptoKeyDecrypter',
    'cryptoKeyEncrypter',
    'cryptoKeyEncrypterDecrypter',
    'publicKeyViewer',
    'signer',
    'signerVerifier',
    'verifier',
    'viewer',
  ].map((role) => `roles/cloudkms.${role}`),
);

/** Secret payloads live beside the project (state.ts SecretData); unset, they are not kept. */
const SECRET_DATA = process.env.FAKE_GCLOUD_SECRET_DATA ?? '';

function storePayload(secret: string, version: number, data: string): void {
  if (SECRET_DATA === '') return;
  const all = readSecretData(SECRET_DATA);
  all[`${secret}/${version}`] = Buffer.from(data, 'utf8').toString('base64');
  writeSecretData(SECRET_DATA, all);
}

class Exit extends Error {
  readonly exitCode: number;
  constructor(exitCode: number, message: string) {
    super(message);
    this.exitCode = exitCode;
  }
}

const notFound = (what: string): Exit => new Exit(1, `ERROR: NOT_FOUND: ${what} not found`);
const fail = (message: string): Exit => new Exit(1, `ERROR: ${message}`);

interface Parsed {
  readonly positionals: string[];
  readonly flags: Map<string, string[]>;
}

function parse(args: readonly string[]): Parsed {
  const positionals: string[] = [];
  const flags = new Map<string, string[]>();
  for (const arg of args) {
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const value = eq === -1 ? 'true' : arg.slice(eq + 1);
    flags.set(name, [...(flags.get(name) ?? []), value]);
  }
  return { positionals, flags };
}

function main(): number {
  const stateFile = process.env.FAKE_GCLOUD_STATE ?? '';
  const logFile = process.env.FAKE_GCLOUD_LOG ?? '';
  const args = process.argv.slice(2);
  const stdin = readStdin();
  const { positionals } = parse(args);
  const verb = positionals.find((p) => READ_ONLY_VERBS.has(p));
  const mutating = verb === undefined;
  let code = 0;
  try {
    const state = readState(stateFile);
    const output = run(state, parse(args), stdin);
    if (mutating) writeState(stateFile, state);
    if (output !== undefined) process.stdout.write(output);
  } catch (error) {
    if (!(error instanceof Exit)) throw error;
    process.stderr.write(`${error.message}\n`);
    code = error.exitCode;
  }
  appendLog(logFile, { tool: 'gcloud', args, stdin, mutating, code });
  return code;
}

function readStdin(): string {
  try {
    return readFileSync(0, 'utf8');
  } catch {
    return '';
  }
}

function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

function run(state: FakeState, { positionals, flags }: Parsed, stdin: string): string | undefined {
  const flag = (name: string): string | undefined => flags.get(name)?.at(-1);
  const need = (name: string): string => {
    const value = flag(name);
    if (value === undefined) throw new Exit(2, `ERROR: argument --${name} is required`);
    return value;
  };
  const [group = '', ...rest] = positionals;
  const command = [group, ...rest].join(' ');
  const isRead = positionals.some((p) => READ_ONLY_VERBS.has(p));
  if (isRead && !(group === 'auth') && flag('format') !== 'json')
    throw new Exit(2, 'ERROR: fake gcloud: read commands must ask for --format=json');
  if (group !== 'auth' && flag('project') !== state.projectId)
    throw fail(`fake gcloud: expected --project=${state.projectId}`);

  const api: Record<string, string> = {
    secrets: 'secretmanager.googleapis.com',
    pubsub: 'pubsub.googleapis.com',
    firestore: 'firestore.googleapis.com',
    functions: 'cloudfunctions.googleapis.com',
    run: 'run.googleapis.com',
    eventarc: 'eventarc.googleapis.com',
    scheduler: 'cloudscheduler.googleapis.com',
    iam: 'iam.googleapis.com',
    kms: 'cloudkms.googleapis.com',
    logging: 'logging.googleapis.com',
    monitoring: 'monitoring.googleapis.com',
  };
  // `gcloud alpha monitoring …` and `gcloud beta monitoring …` are Monitoring too.
  const required = api[group === 'alpha' || group === 'beta' ? (rest[0] ?? '') : group];
  if (required !== undefined && !state.services.includes(required))
    throw fail(
      `PERMISSION_DENIED: ${required} has not been used in project ${state.projectNumber} before or it is disabled.`,
    );

  const p = state.projectId;
  const saExists = (member: string): void => {
    if (!member.startsWith('serviceAccount:')) return;
    const email = member.slice('serviceAccount:'.length);
    if (email.includes('gserviceaccount.com') && email.startsWith('service-')) {
      if (!email.includes(state.projectNumber))
        throw fail(`service agent ${email} does not belong here`);
      return;
    }
    if (state.serviceAccounts[email] === undefined)
      throw fail(`INVALID_ARGUMENT: Service account ${email} does not exist.`);
  };
  // gcloud takes a topic as an id or as a full name; this project is the only one here.
  const topicId = (value: string): string => {
    const full = /^projects\/([^/]+)\/topics\/([^/]+)$/.exec(value);
    if (full === null) return value;
    if (full[1] !== p) throw notFound(`topic ${value}`);
    return full[2] ?? '';
  };
  const bind = (policy: FakePolicy): void => {
    const member = need('member');
    saExists(member);
    addMember(policy, need('role'), member);
  };
  const unbind = (policy: FakePolicy): void => {
    const member = need('member');
    const binding = policy.bindings.find((b) => b.role === need('role'));
    if (!binding?.members.includes(member)) throw notFound('Policy binding');
    binding.members = binding.members.filter((m) => m !== member);
  };

  switch (command) {
    case 'auth print-access-token':
      return `${state.accessToken}\n`;
    case `projects describe ${p}`:
      return json({ projectId: p, projectNumber: state.projectNumber, lifecycleState: 'ACTIVE' });
    case `projects get-iam-policy ${p}`:
      return json({ ...state.projectPolicy, etag: 'BwX', version: 1 });
    case `projects add-iam-policy-binding ${p}`:
      if (flag('condition') !== 'None')
        throw new Exit(2, 'ERROR: fake gcloud: pass --condition=None');
      bind(state.projectPolicy);
      return json(state.projectPolicy);
    case 'services list':
      if (flag('enabled') !== 'true') throw new Exit(2, 'ERROR: fake gcloud: list --enabled only');
      return json(
        state.services.map((s) => ({
          config: { name: s },
          name: `projects/${state.projectNumber}/services/${s}`,
          state: 'ENABLED',
        })),
      );
    case 'beta services identity create':
      if (!state.services.includes(need('service'))) throw fail('service not enabled');
      return undefined;
    case 'iam service-accounts list':
      return json(
        Object.entries(state.serviceAccounts).map(([email, sa]) => ({
          email,
          displayName: sa.displayName,
        })),
      );
  }

  if (command.startsWith('services enable ')) {
    for (const service of rest.slice(1))
      if (!state.services.includes(service)) state.services.push(service);
    return undefined;
  }

  const [verb = '', name = ''] = rest;
  if (group === 'iam' && rest[0] === 'service-accounts') {
    const [, action = '', id = ''] = rest;
    if (action === 'create') {
      const email = `${id}@${p}.iam.gserviceaccount.com`;
      if (state.serviceAccounts[email]) throw fail('ALREADY_EXISTS: service account exists');
      state.serviceAccounts[email] = { displayName: flag('display-name') ?? '' };
      return undefined;
    }
    if (action === 'update') {
      const sa = state.serviceAccounts[id];
      if (!sa) throw notFound(`service account ${id}`);
      sa.displayName = flag('display-name') ?? sa.displayName;
      return undefined;
    }
  }

  if (group === 'secrets') {
    if (verb === 'versions' && (rest[1] === 'access' || rest[1] === 'disable')) {
      // VERSION --secret=SECRET, as gcloud takes them.
      const [, action, number = ''] = rest;
      const secretName = need('secret');
      const secret = state.secrets[secretName];
      if (!secret) throw notFound(`Secret [${secretName}]`);
      const version = secret.versions.find((v) => String(v.number) === number);
      const full = `projects/${state.projectNumber}/secrets/${secretName}/versions/${number}`;
      if (!version) throw notFound(`Secret Version [${full}]`);
      if (action === 'disable') {
        version.state = 'DISABLED';
        return undefined;
      }
      if (version.state !== 'ENABLED')
        throw fail(`FAILED_PRECONDITION: ${full} is in ${version.state} state.`);
      const data = readSecretData(SECRET_DATA)[`${secretName}/${number}`];
      if (data === undefined) throw fail(`fake gcloud: no payload kept for ${full}`);
      // gcloud shows payload.data in the URL-safe base64 alphabet.
      return json({
        name: full,
        payload: { data: Buffer.from(data, 'base64').toString('base64url') },
      });
    }
    if (verb === 'versions') {
      const [, action = '', secretName = ''] = rest;
      const secret = state.secrets[secretName];
      if (!secret) throw notFound(`Secret [${secretName}]`);
      if (action === 'list')
        return json(
          secret.versions.map((v) => ({
            name: `projects/${state.projectNumber}/secrets/${secretName}/versions/${v.number}`,
            state: v.state,
          })),
        );
      if (action === 'add') {
        if (flag('data-file') !== '-' || stdin === '')
          throw fail('fake gcloud: secret data must come on stdin');
        const number = Math.max(0, ...secret.versions.map((v) => v.number)) + 1;
        secret.versions.push({ number, state: 'ENABLED' });
        storePayload(secretName, number, stdin);
        return undefined;
      }
    }
    const secret = state.secrets[name];
    if (verb === 'create') {
      if (secret) throw fail('ALREADY_EXISTS: secret exists');
      if (flag('data-file') !== '-' || stdin === '')
        throw fail('fake gcloud: secret data must come on stdin');
      state.secrets[name] = {
        versions: [{ number: 1, state: 'ENABLED' }],
        policy: { bindings: [] },
      };
      storePayload(name, 1, stdin);
      return undefined;
    }
    if (!secret) throw notFound(`Secret [projects/${state.projectNumber}/secrets/${name}]`);
    if (verb === 'describe')
      return json({ name: `projects/${state.projectNumber}/secrets/${name}` });
    if (verb === 'get-iam-policy') return json(secret.policy);
    if (verb === 'add-iam-policy-binding') {
      bind(secret.policy);
      return json(secret.policy);
    }
    if (verb === 'remove-iam-policy-binding') {
      unbind(secret.policy);
      return json(secret.policy);
    }
  }

  if (group === 'kms') {
    const location = need('location');
    state.kms ??= { keyRings: {} };
    if (verb === 'keyrings') {
      const [, action = '', ringId = ''] = rest;
      const id = `locations/${location}/keyRings/${ringId}`;
      if (action === 'create') {
        if (state.kms.keyRings[id]) throw fail('ALREADY_EXISTS: KeyRing exists');
        state.kms.keyRings[id] = { keys: {} };
        return undefined;
      }
      if (!state.kms.keyRings[id]) throw notFound(`KeyRing projects/${p}/${id}`);
      if (action === 'describe') return json({ name: `projects/${p}/${id}`, createTime: 'x' });
    }
    const ringId = `locations/${location}/keyRings/${need('keyring')}`;
    const ring = state.kms.keyRings[ringId];
    if (!ring) throw notFound(`KeyRing projects/${p}/${ringId}`);
    if (verb === 'encrypt') {
      const keyName = `projects/${p}/${ringId}/cryptoKeys/${need('key')}`;
      if (!ring.keys[need('key')]) throw notFound(`CryptoKey ${keyName}`);
      if (need('plaintext-file') !== '-' || stdin === '')
        throw fail('fake gcloud: the plaintext must come on stdin');
      const aadFile = need('additional-authenticated-data-file');
      const ciphertext = fakeKmsEncrypt(keyName, Buffer.from(stdin, 'utf8'), readFileSync(aadFile));
      const out = need('ciphertext-file');
      if (out === '-') process.stdout.write(ciphertext);
      else writeFileSync(out, ciphertext);
      return undefined;
    }
    if (verb === 'keys' && rest[1] === 'versions') {
      // VERSION --key=KEY, as gcloud takes them; only asymmetric keys keep versions here.
      const [, , action = '', number = ''] = rest;
      const keyId = need('key');
      const key = ring.keys[keyId];
      const keyName = `projects/${p}/${ringId}/cryptoKeys/${keyId}`;
      if (!key) throw notFound(`CryptoKey ${keyName}`);
      const versions = key.versions;
      if (versions === undefined)
        throw fail(
          'fake gcloud: versions of asymmetric keys only (an encryption key has none kept)',
        );
      const template = key.versionTemplate;
      switch (action) {
        case 'list':
          return json(
            versions.map((v) => ({
              name: `${keyName}/cryptoKeyVersions/${v.number}`,
              state: v.state,
              algorithm: v.algorithm,
              protectionLevel: template?.protectionLevel ?? 'SOFTWARE',
            })),
          );
        case 'create':
          versions.push({
            number: Math.max(0, ...versions.map((v) => v.number)) + 1,
            state: 'ENABLED',
            algorithm: template?.algorithm ?? '',
          });
          return undefined;
        case 'disable': {
          const version = versions.find((v) => String(v.number) === number);
          if (!version) throw notFound(`CryptoKeyVersion ${keyName}/cryptoKeyVersions/${number}`);
          if (version.state !== 'ENABLED')
            throw fail(`FAILED_PRECONDITION: version ${number} is ${version.state}, not ENABLED`);
          version.state = 'DISABLED';
          return undefined;
        }
      }
    }
    if (verb === 'keys') {
      const [, action = '', keyId = ''] = rest;
      const key = ring.keys[keyId];
      const schedule = (): { rotationPeriod?: string; nextRotationTime?: string } => {
        const period = flag('rotation-period');
        const next = flag('next-rotation-time');
        if (period === undefined) return {};
        const match = /^(\d+)([smhd])$/.exec(period);
        if (!match) throw new Exit(2, `ERROR: argument --rotation-period: bad value ${period}`);
        const unit = { s: 1, m: 60, h: 3600, d: 86400 }[match[2] as 's' | 'm' | 'h' | 'd'];
        const relative = /^\+P(\d+)D$/.exec(next ?? '');
        if (next === undefined || (relative === null && Number.isNaN(Date.parse(next))))
          throw fail('fake gcloud: a rotation period needs --next-rotation-time');
        const at = relative
          ? new Date(Date.now() + Number(relative[1]) * 86_400_000).toISOString()
          : new Date(next).toISOString();
        return { rotationPeriod: `${Number(match[1]) * unit}s`, nextRotationTime: at };
      };
      if (action === 'create') {
        if (key) throw fail('ALREADY_EXISTS: CryptoKey exists');
        const purpose = need('purpose');
        if (purpose === 'encryption') {
          ring.keys[keyId] = {
            purpose: 'ENCRYPT_DECRYPT',
            ...schedule(),
            policy: { bindings: [] },
          };
          return undefined;
        }
        if (purpose !== 'asymmetric-signing')
          throw fail('fake gcloud: encryption and asymmetric-signing keys only');
        // As Cloud KMS: an asymmetric key needs its algorithm and has no automatic rotation.
        const algorithm = SIGNING_ALGORITHMS[flag('default-algorithm') ?? ''];
        if (algorithm === undefined)
          throw fail('fake gcloud: an asymmetric-signing key needs a known --default-algorithm');
        if (flag('rotation-period') !== undefined || flag('next-rotation-time') !== undefined)
          throw fail('INVALID_ARGUMENT: asymmetric keys do not support automatic rotation');
        const level = flag('protection-level') ?? 'software';
        if (level !== 'software' && level !== 'hsm')
          throw fail(`fake gcloud: protection level ${level} is not modelled`);
        ring.keys[keyId] = {
          purpose: 'ASYMMETRIC_SIGN',
          versionTemplate: { algorithm, protectionLevel: level.toUpperCase() },
          versions:
            flag('skip-initial-version-creation') === 'true'
              ? []
              : [{ number: 1, state: 'ENABLED', algorithm }],
          policy: { bindings: [] },
        };
        return undefined;
      }
      const keyName = `projects/${p}/${ringId}/cryptoKeys/${keyId}`;
      if (!key) throw notFound(`CryptoKey ${keyName}`);
      switch (action) {
        case 'describe':
          // An asymmetric key has a version template and no primary version.
          return json(
            key.versionTemplate
              ? { name: keyName, purpose: key.purpose, versionTemplate: key.versionTemplate }
              : {
                  name: keyName,
                  purpose: key.purpose,
                  rotationPeriod: key.rotationPeriod,
                  nextRotationTime: key.nextRotationTime,
                  primary: { name: `${keyName}/cryptoKeyVersions/1`, state: 'ENABLED' },
                },
          );
        case 'update':
          Object.assign(key, schedule());
          return undefined;
        case 'get-iam-policy':
          return json(key.policy);
        case 'add-iam-policy-binding':
          // IAM refuses a role that does not exist, or that cannot be granted on a key.
          if (!CRYPTO_KEY_ROLES.has(need('role')))
            throw fail(
              `INVALID_ARGUMENT: Role ${need('role')} is not supported for this resource.`,
            );
          bind(key.policy);
          return json(key.policy);
        case 'remove-iam-policy-binding':
          unbind(key.policy);
          return json(key.policy);
      }
    }
  }

  if (group === 'pubsub' && verb === 'topics') {
    const [, action = '', topicId = ''] = rest;
    const topic = state.topics[topicId];
    if (action === 'create') {
      if (topic) throw fail('ALREADY_EXISTS: Resource already exists in the project');
      state.topics[topicId] = { policy: { bindings: [] } };
      return undefined;
    }
    if (!topic) throw notFound(`Resource (resource=${topicId})`);
    if (action === 'describe') return json({ name: `projects/${p}/topics/${topicId}` });
    if (action === 'get-iam-policy') return json(topic.policy);
    if (action === 'add-iam-policy-binding') {
      bind(topic.policy);
      return json(topic.policy);
    }
  }

  if (group === 'pubsub' && verb === 'subscriptions') {
    const [, action = '', subId = ''] = rest;
    const sub = state.subscriptions[subId];
    if (action === 'create') {
      if (sub) throw fail('ALREADY_EXISTS: Resource already exists in the project');
      const topic = topicId(need('topic'));
      if (!state.topics[topic]) throw notFound(`topic ${topic}`);
      state.subscriptions[subId] = {
        topic: `projects/${p}/topics/${topic}`,
        messageRetentionDuration: flag('message-retention-duration') ?? '7d',
        policy: { bindings: [] },
      };
      return undefined;
    }
    if (!sub) throw notFound(`Resource (resource=${subId})`);
    if (action === 'describe') {
      const { topic, deadLetterPolicy, retryPolicy, messageRetentionDuration } = sub;
      return json({
        name: `projects/${p}/subscriptions/${subId}`,
        topic,
        deadLetterPolicy,
        retryPolicy,
        messageRetentionDuration,
      });
    }
    if (action === 'get-iam-policy') return json(sub.policy);
    if (action === 'add-iam-policy-binding') {
      bind(sub.policy);
      return json(sub.policy);
    }
    if (action === 'update') {
      const deadLetterFlag = flag('dead-letter-topic');
      const deadLetter = deadLetterFlag === undefined ? undefined : topicId(deadLetterFlag);
      if (deadLetter !== undefined) {
        if (!state.topics[deadLetter]) throw notFound(`topic ${deadLetter}`);
        sub.deadLetterPolicy = {
          deadLetterTopic: `projects/${p}/topics/${deadLetter}`,
          maxDeliveryAttempts: Number(flag('max-delivery-attempts') ?? 5),
        };
      }
      const min = flag('min-retry-delay');
      const max = flag('max-retry-delay');
      if (min !== undefined || max !== undefined)
        sub.retryPolicy = { minimumBackoff: min ?? '10s', maximumBackoff: max ?? '600s' };
      return undefined;
    }
  }

  if (group === 'firestore') {
    const dbName = flag('database') ?? '(default)';
    const db = state.databases[dbName];
    if (command === 'firestore databases create') {
      if (db) throw fail('ALREADY_EXISTS: database exists');
      if (need('type') !== 'firestore-native') throw fail('fake gcloud: expected native mode');
      state.databases[dbName] = {
        type: 'FIRESTORE_NATIVE',
        locationId: need('location'),
        indexes: [],
        ttls: [],
        overrides: [],
      };
      return undefined;
    }
    if (!db) throw notFound(`The database ${dbName} does not exist for project ${p}. Database`);
    const prefix = `projects/${p}/databases/${dbName}/collectionGroups`;
    switch (command) {
      case 'firestore databases describe':
        return json({
          name: `projects/${p}/databases/${dbName}`,
          type: db.type,
          locationId: db.locationId,
        });
      case 'firestore indexes composite list':
        return json(db.indexes);
      case 'firestore indexes composite create': {
        const group = need('collection-group');
        const fields = (flags.get('field-config') ?? []).map((config) => {
          const parts = Object.fromEntries(
            config.split(',').map((kv) => kv.split('=') as [string, string]),
          );
          return parts['array-config']
            ? {
                fieldPath: parts['field-path'] ?? '',
                arrayConfig: parts['array-config'].toUpperCase(),
              }
            : { fieldPath: parts['field-path'] ?? '', order: (parts.order ?? '').toUpperCase() };
        });
        db.indexes.push({
          name: `${prefix}/${group}/indexes/CICAgI${state.counter++}`,
          queryScope:
            need('query-scope') === 'collection-group' ? 'COLLECTION_GROUP' : 'COLLECTION',
          fields: [...fields, { fieldPath: '__name__', order: 'ASCENDING' }],
          state: 'CREATING',
        });
        return undefined;
      }
      case 'firestore fields ttls list':
        return json(db.ttls);
      case 'firestore indexes fields list':
        return json([
          {
            name: `${prefix}/__default__/fields/*`,
            indexConfig: { usesAncestorConfig: false, indexes: [{}] },
          },
          ...db.overrides,
        ]);
    }
    if (command.startsWith('firestore indexes fields update ')) {
      if (flag('disable-indexes') !== 'true') throw fail('fake gcloud: expected --disable-indexes');
      const fieldName = `${prefix}/${need('collection-group')}/fields/${rest[3] ?? ''}`;
      if (db.ttls.some((t) => t.name === fieldName && t.ttlConfig.state === 'CREATING'))
        throw fail('FAILED_PRECONDITION: an update of this field is in progress');
      if (!db.overrides.some((o) => o.name === fieldName))
        db.overrides.push({ name: fieldName, indexConfig: { usesAncestorConfig: false } });
      return undefined;
    }
    if (command.startsWith('firestore fields ttls update ')) {
      if (flag('enable-ttl') !== 'true') throw fail('fake gcloud: expected --enable-ttl');
      const fieldName = `${prefix}/${need('collection-group')}/fields/${rest[3] ?? ''}`;
      if (!db.ttls.some((t) => t.name === fieldName))
        db.ttls.push({ name: fieldName, ttlConfig: { state: 'CREATING' } });
      return undefined;
    }
  }

  if (group === 'functions') {
    const region = need('region');
    const fn = state.functions[name];
    if (verb === 'deploy') {
      deploy(state, name, region, flags);
      return undefined;
    }
    if (!fn)
      throw notFound(
        `Function ${name} in region ${region} in project ${p} does not exist. Resource`,
      );
    if (verb === 'describe') {
      if (flag('v2') !== 'true' || flag('gen2') !== undefined)
        throw new Exit(2, 'ERROR: fake gcloud: describe takes --v2 (it has no --gen2)');
      return json(fn);
    }
    const policy = (state.runPolicies[name] ??= { bindings: [] });
    if (verb === 'add-invoker-policy-binding') {
      const member = need('member');
      saExists(member);
      addMember(policy, 'roles/run.invoker', member);
      return json(policy);
    }
    if (verb === 'remove-invoker-policy-binding') {
      const binding = policy.bindings.find((b) => b.role === 'roles/run.invoker');
      const member = need('member');
      if (!binding?.members.includes(member)) throw notFound('Policy binding');
      binding.members = binding.members.filter((m) => m !== member);
      return json(policy);
    }
  }

  if (command === `run services get-iam-policy ${rest[2] ?? ''}`) {
    const service = rest[2] ?? '';
    if (!state.functions[service]) throw notFound(`Service ${service}`);
    return json(state.runPolicies[service] ?? { bindings: [] });
  }

  if (command.startsWith('eventarc triggers describe ')) {
    const trigger = state.eventarcTriggers[rest[2] ?? ''];
    if (!trigger) throw notFound('Trigger');
    return json({
      name: `projects/${p}/locations/${need('location')}/triggers/${rest[2] ?? ''}`,
      transport: {
        pubsub: { subscription: `projects/${p}/subscriptions/${trigger.subscription}` },
      },
    });
  }

  if (group === 'scheduler' && verb === 'jobs') {
    const [, action = '', kind = '', jobName = ''] = rest;
    const location = need('location');
    const key = `${location}/${action === 'describe' ? kind : jobName}`;
    const job = state.schedulerJobs[key];
    if (action === 'describe') {
      if (!job) throw notFound('Job');
      return json(job);
    }
    if (kind !== 'pubsub') throw fail('fake gcloud: pubsub jobs only');
    if (action === 'create' && job) throw fail('ALREADY_EXISTS: Job exists');
    if (action === 'update' && !job) throw notFound('Job');
    const topic = topicId(need('topic'));
    if (!state.topics[topic]) throw notFound(`topic ${topic}`);
    state.schedulerJobs[key] = {
      name: `projects/${p}/locations/${location}/jobs/${jobName}`,
      schedule: need('schedule'),
      timeZone: flag('time-zone') ?? 'Etc/UTC',
      pubsubTarget: {
        topicName: `projects/${p}/topics/${topic}`,
        data: Buffer.from(need('message-body')).toString('base64'),
      },
      description: flag('description') ?? job?.description ?? '',
    };
    return undefined;
  }

  const monitoring = runMonitoring(state, positionals, flag);
  if (monitoring !== NOT_MONITORING) return monitoring;

  throw new Exit(2, `ERROR: fake gcloud does not know "${command}"`);
}

const NOT_MONITORING = Symbol('not a monitoring command');
type Json = Record<string, unknown>;

/** A --config-from-file or --policy-from-file, read as gcloud reads it (JSON here). */
function fromFile(flagName: string, file: string | undefined): Json {
  if (file === undefined) throw new Exit(2, `ERROR: argument --${flagName} is required`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new Exit(2, `ERROR: argument --${flagName}: Unable to read file [${file}]`);
  }
  return JSON.parse(text) as Json;
}

/**
 * Log-based metrics (logging metrics), dashboards (monitoring dashboards), alerting policies
 * (alpha monitoring policies) and notification channels (beta monitoring channels). Lists answer
 * as the APIs do: with names, times and defaults of their own beside what was sent.
 */
function runMonitoring(
  state: FakeState,
  positionals: readonly string[],
  flag: (name: string) => string | undefined,
): string | undefined | typeof NOT_MONITORING {
  const p = state.projectId;
  const words = positionals.join(' ');
  const id = (value: string | undefined): string => (value ?? '').split('/').pop() ?? '';
  const channelIds = (value: string | undefined): string[] =>
    (value ?? '')
      .split(',')
      .filter((item) => item !== '')
      .map((item) => {
        if (state.notificationChannels[id(item)] === undefined)
          throw notFound(`Notification channel ${item}`);
        return id(item);
      });

  if (words === 'logging metrics list')
    return json(
      Object.entries(state.logMetrics).map(([name, metric]) => ({
        name,
        ...metric,
        metricDescriptor: {
          ...(metric.metricDescriptor as Json),
          name: `projects/${p}/metricDescriptors/logging.googleapis.com/user/${name}`,
          type: `logging.googleapis.com/user/${name}`,
        },
        createTime: '2026-11-20T10:00:00Z',
        updateTime: '2026-11-20T10:00:00Z',
      })),
    );
  if (words.startsWith('logging metrics create ') || words.startsWith('logging metrics update ')) {
    const [, , action, name = ''] = positionals;
    const body = fromFile('config-from-file', flag('config-from-file'));
    if (typeof body.filter !== 'string') throw fail('INVALID_ARGUMENT: a metric needs a filter');
    const existing = state.logMetrics[name];
    if (action === 'create') {
      if (existing) throw fail(`ALREADY_EXISTS: metric ${name} already exists`);
      state.logMetrics[name] = body;
    } else {
      if (!existing) throw notFound(`Metric ${name}`);
      // Top-level fields of the file replace the metric's (gcloud's update).
      state.logMetrics[name] = { ...existing, ...body };
    }
    return undefined;
  }

  if (words === 'monitoring dashboards list')
    return json(
      Object.entries(state.dashboards).map(([dashboardId, body]) => ({
        name: `projects/${state.projectNumber}/dashboards/${dashboardId}`,
        etag: `etag-${dashboardId}`,
        ...normalizedDashboard(body),
      })),
    );
  if (words === 'monitoring dashboards create') {
    state.dashboards[String(state.counter++)] = fromFile(
      'config-from-file',
      flag('config-from-file'),
    );
    return undefined;
  }
  if (words.startsWith('monitoring dashboards update ')) {
    const dashboardId = id(positionals[3]);
    if (!state.dashboards[dashboardId]) throw notFound(`Dashboard ${dashboardId}`);
    state.dashboards[dashboardId] = fromFile('config-from-file', flag('config-from-file'));
    return undefined;
  }

  if (words === 'alpha monitoring policies list')
    return json(
      Object.entries(state.alertPolicies).map(([policyId, { body, channels }]) => {
        const name = `projects/${p}/alertPolicies/${policyId}`;
        return {
          ...body,
          name,
          conditions: ((body.conditions as Json[] | undefined) ?? []).map((condition, i) => ({
            ...condition,
            name: `${name}/conditions/${i + 1}`,
          })),
          notificationChannels: channels.map((c) => `projects/${p}/notificationChannels/${c}`),
          creationRecord: { mutateTime: '2026-11-20T10:00:00Z', mutatedBy: 'deployer' },
        };
      }),
    );
  if (
    words === 'alpha monitoring policies create' ||
    words.startsWith('alpha monitoring policies update ')
  ) {
    const body = fromFile('policy-from-file', flag('policy-from-file'));
    // Monitoring refuses a condition on a log-based metric it does not know.
    for (const [, name] of JSON.stringify(body).matchAll(/logging\.googleapis\.com\/user\/(\w+)/g))
      if (state.logMetrics[name ?? ''] === undefined)
        throw notFound(
          `Cannot find metric(s) that match type = "logging.googleapis.com/user/${name ?? ''}". Metric`,
        );
    if (positionals[3] === 'create') {
      const channels = channelIds(flag('notification-channels'));
      state.alertPolicies[String(state.counter++)] = { body, channels };
    } else {
      const policyId = id(positionals[4]);
      if (!state.alertPolicies[policyId]) throw notFound(`Alert policy ${policyId}`);
      // Replaced whole from the file: channels only from --set-notification-channels.
      state.alertPolicies[policyId] = {
        body,
        channels: channelIds(flag('set-notification-channels')),
      };
    }
    return undefined;
  }

  if (words === 'beta monitoring channels list')
    return json(
      Object.entries(state.notificationChannels).map(([channelId, channel]) => ({
        name: `projects/${p}/notificationChannels/${channelId}`,
        ...channel,
        enabled: true,
      })),
    );
  if (words === 'beta monitoring channels create') {
    const labels = Object.fromEntries(
      (flag('channel-labels') ?? '').split(',').map((pair) => {
        const eq = pair.indexOf('=');
        return [pair.slice(0, eq), pair.slice(eq + 1)];
      }),
    ) as Record<string, string>;
    if (flag('type') !== 'email' || !labels.email_address)
      throw fail('INVALID_ARGUMENT: an email channel needs email_address');
    state.notificationChannels[String(state.counter++)] = {
      type: 'email',
      displayName: flag('display-name') ?? '',
      labels,
    };
    return undefined;
  }
  return NOT_MONITORING;
}

/** As the dashboards API lists one: zero tile positions left out, chart defaults filled in. */
function normalizedDashboard(body: Json): Json {
  const copy = structuredClone(body) as {
    mosaicLayout?: { tiles?: (Json & { widget?: { xyChart?: { dataSets?: Json[] } } })[] };
  };
  for (const tile of copy.mosaicLayout?.tiles ?? []) {
    if (tile.xPos === 0) delete tile.xPos;
    if (tile.yPos === 0) delete tile.yPos;
    for (const dataSet of tile.widget?.xyChart?.dataSets ?? []) dataSet.targetAxis ??= 'Y1';
  }
  return copy;
}

function deploy(
  state: FakeState,
  name: string,
  region: string,
  flags: Map<string, string[]>,
): void {
  const flag = (n: string): string | undefined => flags.get(n)?.at(-1);
  const p = state.projectId;
  if (flag('gen2') !== 'true' || flag('runtime') !== 'nodejs24')
    throw fail('fake gcloud: gen2 nodejs24 only');
  const source = flag('source') ?? '';
  for (const file of ['index.js', 'package.json'])
    if (!existsSync(path.join(source, file))) throw fail(`fake gcloud: ${source} has no ${file}`);
  for (const api of [
    'run.googleapis.com',
    'cloudbuild.googleapis.com',
    'artifactregistry.googleapis.com',
  ])
    if (!state.services.includes(api)) throw fail(`${api} is disabled`);
  const serviceAccount = flag('service-account') ?? '';
  if (!state.serviceAccounts[serviceAccount])
    throw fail(`service account ${serviceAccount} does not exist`);

  const environmentVariables: Record<string, string> = { LOG_EXECUTION_ID: 'true' };
  const envArg = flag('set-env-vars') ?? '';
  const alt = /^\^(.)\^/.exec(envArg);
  const list = alt ? envArg.slice(3).split(alt[1] ?? ',') : envArg.split(',');
  for (const pair of list.filter((item) => item !== '')) {
    const eq = pair.indexOf('=');
    environmentVariables[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const secretEnvironmentVariables = (flag('set-secrets') ?? '')
    .split(',')
    .filter((item) => item !== '')
    .map((item) => {
      const [key = '', ref = ''] = item.split('=');
      // SECRET:VERSION (the function's project) or projects/PROJECT/secrets/SECRET:VERSION.
      const [, project = p, secret = '', version = ''] =
        /^(?:projects\/([^/]+)\/secrets\/)?([^/:]+):(.*)$/.exec(ref) ?? [];
      if (project !== p) throw fail(`fake gcloud: secret ${ref} is in another project`);
      const versions = state.secrets[secret]?.versions ?? [];
      if (!/^\d+$/.test(version)) throw fail(`fake gcloud: pin a numeric version (${key})`);
      if (!versions.some((v) => String(v.number) === version && v.state === 'ENABLED'))
        throw fail(`secret ${secret} version ${version} does not exist`);
      return { key, projectId: p, secret, version };
    });

  const previous = state.functions[name];
  let eventTrigger = previous?.eventTrigger;
  const topic = flag('trigger-topic');
  if (topic?.includes('/'))
    throw new Exit(2, `ERROR: argument --trigger-topic: Invalid value '${topic}'`);
  if (topic !== undefined) {
    if (!state.topics[topic]) throw fail(`topic ${topic} does not exist`);
    const triggerSa = flag('trigger-service-account') ?? '';
    if (!state.serviceAccounts[triggerSa])
      throw fail(`service account ${triggerSa} does not exist`);
    if (eventTrigger?.pubsubTopic !== `projects/${p}/topics/${topic}`) {
      const id = `${name}-${state.counter++}`;
      const subscription = `eventarc-${region}-${id}-sub-${state.counter++}`;
      state.eventarcTriggers[id] = { subscription };
      // Eventarc's subscription: a push subscription without dead-lettering.
      state.subscriptions[subscription] = {
        topic: `projects/${p}/topics/${topic}`,
        policy: { bindings: [] },
      };
      eventTrigger = {
        trigger: `projects/${p}/locations/${region}/triggers/${id}`,
        pubsubTopic: `projects/${p}/topics/${topic}`,
        serviceAccountEmail: triggerSa,
        retryPolicy: flag('retry') === 'true' ? 'RETRY_POLICY_RETRY' : 'RETRY_POLICY_DO_NOT_RETRY',
      };
    }
  } else if (flag('trigger-http') !== 'true' && previous === undefined) {
    throw fail('fake gcloud: a new function needs a trigger');
  }

  const labels = { ...(previous?.labels ?? {}) };
  for (const pair of (flag('update-labels') ?? '').split(',').filter((x) => x !== '')) {
    const [k = '', v = ''] = pair.split('=');
    labels[k] = v;
  }
  state.functions[name] = {
    name: `projects/${p}/locations/${region}/functions/${name}`,
    url: `https://${region}-${p}.cloudfunctions.net/${name}`,
    state: 'ACTIVE',
    environment: 'GEN_2',
    labels,
    buildConfig: { runtime: 'nodejs24', entryPoint: flag('entry-point') ?? name, source },
    serviceConfig: {
      service: `projects/${p}/locations/${region}/services/${name}`,
      uri: `https://${name}-abc123-ew.a.run.app`,
      serviceAccountEmail: serviceAccount,
      environmentVariables,
      secretEnvironmentVariables,
      availableMemory: flag('memory') ?? '256M',
      availableCpu: flag('cpu') ?? '0.1666',
      maxInstanceCount: Number(flag('max-instances') ?? 100),
      minInstanceCount: Number(flag('min-instances') ?? 0),
      maxInstanceRequestConcurrency: Number(flag('concurrency') ?? 1),
      ingressSettings:
        flag('ingress-settings') === 'internal-only' ? 'ALLOW_INTERNAL_ONLY' : 'ALLOW_ALL',
      timeoutSeconds: Number((flag('timeout') ?? '60s').replace('s', '')),
    },
    ...(eventTrigger ? { eventTrigger } : {}),
  };
  if (flag('allow-unauthenticated') === 'true')
    addMember((state.runPolicies[name] ??= { bindings: [] }), 'roles/run.invoker', 'allUsers');
}

process.exitCode = main();

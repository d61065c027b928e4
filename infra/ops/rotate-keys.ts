// npm run rotate-keys [-- --project P] [--status | --reseal-only | --drop KEY_ID]
// The one way to rotate the token keys (docs/operations.md#rotate-the-keys):
//   (default)      adds a new primary key. On a project, as a new version of the token keyset
//                  secret (wrapped again under the same Cloud KMS key), then prints how to deploy it
//                  and re-seal; on the local keyset file, in place, re-sealing at once;
//   --reseal-only  re-seals every stored value under the keyset's current primary; on a project
//                  only once every function holding the keyset pins that version (checked);
//                  resumable: just run it again;
//   --status       prints the values per key id, and the connections bound to each DPoP key,
//                  changing nothing;
//   --drop KEY_ID  removes a key (on a project, in a further version), refused while any stored
//                  value uses it.
// A project is --project P, or GOOGLE_CLOUD_PROJECT set without TOKEN_KEYSET_FILE, TOKEN_KEYSET or
// TOKEN_KEYSET_VERSION; its keyset is the newest enabled version of the token keyset secret, the
// one `npm run deploy` pins, read with the operator's application-default credentials
// (SECRET_MANAGER_ENDPOINT, KMS_ENDPOINT and CLOUD_FUNCTIONS_ENDPOINT replace Google's addresses
// with local servers, as in test/runs/key-rotation-project.test.ts). Otherwise the keyset is
// TOKEN_KEYSET_FILE (the local stack's .local/token-keyset.json by default); other local sources
// (TOKEN_KEYSET, TOKEN_KEYSET_VERSION) take --status and --reseal-only. Key material is never
// printed, and a failure prints its message only: a cause may hold a request's body.
import type { Firestore } from '@google-cloud/firestore';
import { parseArgs } from 'node:util';
import {
  dropKeyJson,
  parseKeyset,
  rotateKeysetJson,
  type Keyset,
} from '../../shared/crypto/keyset.ts';
import { keyUsage, resealAll } from '../../shared/keys/rotation.ts';
import { secretVersions } from '../../shared/secrets/secret-versions.ts';
import { SECRETS } from '../deploy/resources.ts';
import { cliEnv, cliFirestore } from './cli-env.ts';
import { cliKeyset } from './cli-keyset.ts';
import { dpopTable } from './dpop-table.ts';
import { keyUsageTable } from './key-usage-table.ts';
import {
  fileTokenKeyset,
  projectTokenKeyset,
  type ProjectTokenKeyset,
  type StoredTokenKeyset,
} from './token-keyset-store.ts';
import {
  otherDatabases,
  regionOf,
  tokenFunctions,
  unsafeToReseal,
  type TokenFunctions,
} from './token-functions.ts';

const PROJECT_ID = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/;
const SECRET_ID = SECRETS.tokenKeyset.name;

/** What the command works on: its keyset (when it can be changed), the database, the next steps. */
interface Target {
  readonly keyset: Keyset;
  readonly stored: StoredTokenKeyset | undefined;
  readonly db: Firestore;
  readonly project: ProjectTarget | undefined;
}

interface ProjectTarget {
  readonly id: string;
  readonly stored: ProjectTokenKeyset;
  readonly deployed: TokenFunctions;
  /** The exact `npm run deploy` that pins the newest version on the token functions. */
  readonly deploy: string;
  /** This command on this project. */
  readonly cli: string;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      project: { type: 'string' },
      status: { type: 'boolean', default: false },
      'reseal-only': { type: 'boolean', default: false },
      drop: { type: 'string' },
    },
  });
  // The operator's own environment decides: .local/stack.json belongs to the local stack.
  const local = ['TOKEN_KEYSET_FILE', 'TOKEN_KEYSET', 'TOKEN_KEYSET_VERSION'].some(
    (name) => process.env[name],
  );
  const project = values.project ?? ((!local && process.env.GOOGLE_CLOUD_PROJECT) || undefined);
  const target =
    project === undefined ? await localTarget() : await projectTarget(project, values.project);
  try {
    if (values.status) {
      console.log(keyUsageTable(target.keyset, await keyUsage(target.db)));
      // DPoP keys too: an old one stays while refresh tokens are bound to it.
      console.log(
        `\nDPoP keys\n${(await dpopTable(target.db, project === undefined ? cliEnv() : process.env)).replace(/^/gm, '  ')}`,
      );
    } else if (values.drop !== undefined) await drop(target, values.drop);
    else if (values['reseal-only'] || target.stored === undefined) await reseal(target);
    else await rotate(target, target.stored);
  } finally {
    await target.db.terminate();
  }
}

async function localTarget(): Promise<Target> {
  const env = cliEnv();
  const file =
    env.TOKEN_KEYSET_FILE ??
    (env.TOKEN_KEYSET || env.TOKEN_KEYSET_VERSION ? undefined : '.local/token-keyset.json');
  const stored = file === undefined ? undefined : await fileTokenKeyset(file, env.KMS_ENDPOINT);
  const keyset = stored ? parseKeyset(stored.json) : await cliKeyset(env);
  return { keyset, stored, db: await cliFirestore(env), project: undefined };
}

async function projectTarget(id: string, flag: string | undefined): Promise<Target> {
  if (!PROJECT_ID.test(id))
    throw new Error(`${flag ? '--project' : 'GOOGLE_CLOUD_PROJECT'} is not a valid project id`);
  if (flag !== undefined && process.env.TOKEN_KEYSET_FILE)
    throw new Error('--project reads the keyset from Secret Manager: unset TOKEN_KEYSET_FILE');
  const env = process.env;
  const secrets = await secretVersions(id, env.SECRET_MANAGER_ENDPOINT);
  const [stored, deployed] = await Promise.all([
    projectTokenKeyset(id, secrets, env.KMS_ENDPOINT),
    tokenFunctions(id, env.CLOUD_FUNCTIONS_ENDPOINT),
  ]);
  const database = env.FIRESTORE_DATABASE ?? '(default)';
  const others = otherDatabases(deployed, database);
  if (others.length > 0)
    throw new Error(
      `the token functions use Firestore database ${others.join(', ')}, not ${database}: set FIRESTORE_DATABASE`,
    );
  const location = stored.kmsKey?.split('/')[3];
  const region = regionOf(deployed);
  const flags = [
    `--project ${id}`,
    `--region ${region ?? 'REGION'}`,
    stored.kmsKey === undefined
      ? '--no-kms'
      : location !== region
        ? `--kms-location ${location}`
        : '',
  ];
  return {
    keyset: parseKeyset(stored.json),
    stored,
    db: await cliFirestore({ ...env, GOOGLE_CLOUD_PROJECT: id, FIRESTORE_DATABASE: database }),
    project: {
      id,
      stored,
      deployed,
      deploy: `npm run deploy -- ${flags.filter(Boolean).join(' ')}`,
      cli: `npm run rotate-keys -- --project ${id}`,
    },
  };
}

/** On a project: stops unless every function holding the keyset runs the version read. */
function ensureSafe(project: ProjectTarget | undefined, doing: string): void {
  if (project === undefined) return;
  const reasons = unsafeToReseal(
    project.deployed,
    project.stored.version,
    new Date(),
    project.deploy,
  );
  if (reasons.length === 0) return;
  throw new Error(
    `not ${doing} yet: every function holding the token keyset must run ${project.stored.where} first (a value sealed under a key it lacks would be unreadable for it)\n${reasons.map((r) => `  - ${r}`).join('\n')}`,
  );
}

async function rotate(target: Target, stored: StoredTokenKeyset): Promise<void> {
  const nextId = nextKeyId(target.keyset.keyIds);
  const next = rotateKeysetJson(stored.json, nextId);
  const saved = await stored.save(next);
  const { project } = target;
  if (project === undefined) {
    console.log(
      `added key "${nextId}" as the primary of ${saved.where}; restart the functions (npm start) so they seal with it`,
    );
    await reseal({ ...target, keyset: parseKeyset(next) });
    return;
  }
  const names = project.deployed.functions.map((fn) => fn.name);
  const old = target.keyset.primaryId;
  console.log(
    [
      `added key "${nextId}" as the primary: ${saved.where}${stored.kmsKey ? `, wrapped by Cloud KMS key ${stored.kmsKey}` : ''}`,
      `Until the functions run it, they seal with "${old}". Next:`,
      `  1. ${project.deploy}   (with the other flags of your deploy, e.g. --env-file)`,
      `     pins version ${saved.version} on ${names.length > 0 ? names.join(', ') : 'the functions that hold the token keyset'};`,
      `  2. ${project.cli} --reseal-only`,
      `     once they all run it (it checks, and refuses until then): re-seals every value under "${nextId}";`,
      `  3. ${project.cli} --drop ${old}`,
      `     once --status shows no value under "${old}".`,
    ].join('\n'),
  );
  console.log(keyUsageTable(parseKeyset(next), await keyUsage(target.db)));
}

async function reseal(target: Target): Promise<void> {
  ensureSafe(target.project, 're-sealing');
  const keys = target.keyset.forPurpose('token');
  const done = await resealAll(target.db, keys, (progress) => {
    const line = `  re-sealed ${progress.resealed}, left alone ${progress.skipped}, scanned ${progress.scanned}`;
    if (process.stdout.isTTY) process.stdout.write(`\r${line}   `);
  });
  if (process.stdout.isTTY) process.stdout.write('\n');
  console.log(
    `re-sealed ${done.resealed} connection(s) under "${keys.primaryId}"; ${done.skipped} changed meanwhile and were left alone`,
  );
  const usage = await keyUsage(target.db);
  console.log(keyUsageTable(target.keyset, usage));
  const unused = target.keyset.keyIds.filter((id) => id !== keys.primaryId && !usage.get(id));
  if (target.project !== undefined && unused.length > 0)
    console.log(
      `No value uses ${unused.map((id) => `"${id}"`).join(', ')} any more: ${unused.map((id) => `${target.project?.cli} --drop ${id}`).join('; ')}`,
    );
}

async function drop(target: Target, keyId: string): Promise<void> {
  const { stored, project } = target;
  if (stored === undefined)
    throw new Error('--drop changes the keyset file: set TOKEN_KEYSET_FILE');
  ensureSafe(project, `dropping a key`);
  const inUse = (await keyUsage(target.db)).get(keyId) ?? 0;
  if (inUse > 0) {
    console.error(
      `rotate-keys: key "${keyId}" still seals ${inUse} stored value(s): run ${project?.cli ?? 'rotate-keys'} --reseal-only first`,
    );
    process.exitCode = 1;
    return;
  }
  const next = dropKeyJson(stored.json, keyId);
  const saved = await stored.save(next);
  if (project === undefined) console.log(`dropped key "${keyId}"`);
  else {
    const { version, older } = project.stored;
    console.log(
      [
        `dropped key "${keyId}": ${saved.where}. Next:`,
        `  1. ${project.deploy}   (with the other flags of your deploy)`,
        `     pins it; until then the functions run ${project.stored.where}, which holds "${keyId}" too;`,
        `  2. then disable the older versions, which may still hold "${keyId}":`,
        ...[...older, version].map(
          (n) =>
            `       gcloud secrets versions disable ${n} --secret=${SECRET_ID} --project=${project.id}`,
        ),
      ].join('\n'),
    );
  }
  console.log(keyUsageTable(parseKeyset(next), await keyUsage(target.db)));
}

function nextKeyId(ids: readonly string[]): string {
  const numbers = ids
    .map((id) => /^k(\d+)$/.exec(id)?.[1])
    .filter((n): n is string => n !== undefined);
  return `k${Math.max(0, ...numbers.map(Number)) + 1}`;
}

try {
  await main();
} catch (error) {
  console.error(`rotate-keys: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}

// `npm run rotate-keys` against a project: the token keyset lives in Secret Manager, wrapped by
// Cloud KMS as the deploy stores it, and the CLI changes it by adding versions itself. A rotation
// adds a version whose new primary is wrapped under the same KMS key and purpose; --reseal-only
// refuses while a deployed function still pins an older version or its previous revision may
// still run; --drop of a key in use is refused with the count; an interrupted re-seal completes
// when run again, leaving no value under the old key; --drop then writes a further version. The
// CLI runs as a process against the Firestore emulator and local Secret Manager, Cloud KMS and
// Cloud Functions servers speaking Google's REST APIs; no key material reaches its output.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseKeyset, purposeKeysetJson } from '../../shared/crypto/keyset.ts';
import { unwrapKeyset, wrapKeyset, wrappedKeyset } from '../../shared/crypto/wrapped-keyset.ts';
import { keyUsage } from '../../shared/keys/rotation.ts';
import { kmsKeyWrapper } from '../../shared/secrets/kms.ts';
import { openToken, sealToken } from '../../shared/store/connection/document.ts';
import { grpcConnectionBackend } from '../../shared/store/connection/grpc-backend.ts';
import { createConnectionRepository } from '../../shared/store/connection/repository.ts';
import { startFakeCloudFunctions, type FakeCloudFunctions } from '../fakes/functions-server.ts';
import { startFakeKms, type FakeKms } from '../fakes/kms-server.ts';
import { startFakeSecretManager, type FakeSecretManager } from '../fakes/secret-manager-server.ts';
import { ROOT } from '../local/stack.ts';
import { startRunHarness, stopOwnEmulators, type RunHarness } from './harness.ts';

const SECRET = 'consent-vault-token-keyset';
const REGION = 'europe-west1';

let harness: RunHarness;
let secretManager: FakeSecretManager;
let kms: FakeKms;
let functions: FakeCloudFunctions;
beforeAll(async () => {
  [harness, secretManager, kms, functions] = await Promise.all([
    startRunHarness('rot-prj'),
    startFakeSecretManager(),
    startFakeKms(),
    startFakeCloudFunctions(),
  ]);
  // Every list answer one version per page: the CLI must page to find the newest enabled one.
  secretManager.setListPageSize(1);
});
afterAll(async () => {
  await harness?.close();
  await Promise.all([secretManager?.close(), kms?.close(), functions?.close()]);
  await stopOwnEmulators();
});

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The CLI as a process (async: the servers it talks to run in this one). */
function rotateKeys(env: Record<string, string>, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(ROOT, 'infra/node24.mjs'), 'infra/ops/rotate-keys.ts', ...args],
      {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '',
          METADATA_SERVER_DETECTION: 'none',
          FIRESTORE_EMULATOR_HOST: harness.env.FIRESTORE_EMULATOR_HOST ?? '',
          SECRET_MANAGER_ENDPOINT: secretManager.url,
          KMS_ENDPOINT: kms.url,
          CLOUD_FUNCTIONS_ENDPOINT: functions.url,
          ...env,
        },
      },
      (error, stdout, stderr) =>
        resolve({
          code: error ? (typeof error.code === 'number' ? error.code : -1) : 0,
          stdout,
          stderr,
        }),
    );
  });
}

/** The token functions as `npm run deploy` leaves them: each pins `version` (authorize holds no token key). */
function deployPinning(project: string, version: number, updated: Date): void {
  const pin = {
    TOKEN_KEYSET: `${SECRET}:${version}`,
    COOKIE_KEYSET: 'consent-vault-cookie-keyset:1',
  };
  functions.deploy(project, [
    {
      name: 'authorize',
      region: REGION,
      updated,
      timeoutSeconds: 30,
      secrets: { COOKIE_KEYSET: 'consent-vault-cookie-keyset:1' },
    },
    { name: 'callback', region: REGION, updated, timeoutSeconds: 60, secrets: pin },
    { name: 'revoke', region: REGION, updated, timeoutSeconds: 60, secrets: pin },
    { name: 'worker', region: REGION, updated, timeoutSeconds: 540, secrets: pin },
  ]);
}

async function storedKeyset(project: string, version: number) {
  const stored = secretManager.versions(`projects/${project}/secrets/${SECRET}`)[version - 1];
  expect(stored?.number).toBe(version);
  const wrapped = wrappedKeyset(stored!.value);
  expect(wrapped).toBeDefined();
  const json = await unwrapKeyset(await kmsKeyWrapper(kms.url), wrapped!);
  return { state: stored!.state, wrapped: wrapped!, json, keyset: parseKeyset(json) };
}

describe('rotate-keys --project', () => {
  it('adds a wrapped version with a new primary, re-seals only once deployed, resumably, and drops the old key', async () => {
    const project = harness.projectId;
    const secret = `projects/${project}/secrets/${SECRET}`;
    const kmsKey = `projects/${project}/locations/${REGION}/keyRings/consent-vault/cryptoKeys/token-keyset`;
    const users = await harness.seedUsers(3, { prefix: 'project' });
    const oldKeys = await harness.runtime.keys('token');
    const before = new Map<string, { refresh: string; access: string }>();
    for (const user of users) {
      const stored = await harness.connection(user.sub);
      before.set(user.sub, {
        refresh: openToken(oldKeys, user.sub, 'refreshToken', stored.refreshToken!),
        access: openToken(oldKeys, user.sub, 'accessToken', stored.accessToken!),
      });
    }
    // As the deploy stores it: the token purpose keyset (the keys the values were sealed with),
    // wrapped by Cloud KMS. Version 2 is a newer but disabled one: never read, never pinned.
    const tokenKeyset = purposeKeysetJson(harness.env.TOKEN_KEYSET!, 'token');
    secretManager.setVersion(
      `${secret}/versions/1`,
      await wrapKeyset(await kmsKeyWrapper(kms.url), { keysetJson: tokenKeyset, kmsKey }),
    );
    secretManager.setVersion(`${secret}/versions/2`, 'not a keyset');
    secretManager.setState(`${secret}/versions/2`, 'DISABLED');
    const hourAgo = new Date(Date.now() - 3600_000);
    deployPinning(project, 1, hourAgo);
    const outputs: Run[] = [];
    const run = async (env: Record<string, string>, ...args: string[]) => {
      const result = await rotateKeys(env, ...args);
      outputs.push(result);
      return result;
    };
    const onProject = (...args: string[]) => run({}, '--project', project, ...args);

    // GOOGLE_CLOUD_PROJECT alone (no keyset file) is the project too.
    const status = await run({ GOOGLE_CLOUD_PROJECT: project }, '--status');
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/k1 +primary +6\b/);

    const rotated = await onProject();
    expect(rotated.code, rotated.stderr).toBe(0);
    const versions = secretManager.versions(secret);
    expect(versions.map((v) => [v.number, v.state])).toEqual([
      [1, 'ENABLED'],
      [2, 'DISABLED'],
      [3, 'ENABLED'],
    ]);
    const v3 = await storedKeyset(project, 3);
    expect(v3.wrapped.kmsKey).toBe(kmsKey);
    expect(v3.wrapped.purpose).toBe('token');
    expect(v3.keyset.purpose).toBe('token');
    expect(v3.keyset.keyIds).toEqual(['k2', 'k1']);
    // The old key is kept as it was: every stored value still opens.
    expect(v3.keyset.forPurpose('token').keys.get('k1')).toEqual(oldKeys.keys.get('k1'));
    expect(rotated.stdout).toContain(
      `added key "k2" as the primary: version 3 of secret ${SECRET}, wrapped by Cloud KMS key ${kmsKey}`,
    );
    expect(rotated.stdout).toContain(`npm run deploy -- --project ${project} --region ${REGION}`);
    expect(rotated.stdout).toContain('pins version 3 on callback, revoke, worker');
    expect(rotated.stdout).toContain(`npm run rotate-keys -- --project ${project} --reseal-only`);
    expect(rotated.stdout).toContain(`npm run rotate-keys -- --project ${project} --drop k1`);
    // Nothing re-sealed yet: the deployed functions do not hold k2.
    expect(Object.fromEntries(await keyUsage(harness.db))).toEqual({ k1: 6 });

    const notDeployed = await onProject('--reseal-only');
    expect(notDeployed.code).toBe(1);
    expect(notDeployed.stderr).toContain(
      `callback (${REGION}) pins version 1, not 3: npm run deploy -- --project ${project} --region ${REGION}`,
    );
    expect(Object.fromEntries(await keyUsage(harness.db))).toEqual({ k1: 6 });

    // Just deployed: the previous revision's requests (holding version 1) may still run.
    deployPinning(project, 3, new Date());
    const draining = await onProject('--reseal-only');
    expect(draining.code).toBe(1);
    expect(draining.stderr).toMatch(/worker \(europe-west1\) was deployed at .*its 540 s timeout/);
    expect(Object.fromEntries(await keyUsage(harness.db))).toEqual({ k1: 6 });

    deployPinning(project, 3, hourAgo);
    const inUse = await onProject('--drop', 'k1');
    expect(inUse.code).toBe(1);
    expect(inUse.stderr).toContain('key "k1" still seals 6 stored value(s)');
    expect(secretManager.versions(secret)).toHaveLength(3);

    // Interrupted: the first user was re-sealed before the process died.
    const newKeys = v3.keyset.forPurpose('token');
    const connections = createConnectionRepository(grpcConnectionBackend(harness.db));
    const first = users[0]!;
    const stored = await harness.connection(first.sub);
    await connections.resealTokens(first.sub, {
      from: { refreshToken: stored.refreshToken, accessToken: stored.accessToken },
      to: {
        refreshToken: sealToken(newKeys, first.sub, 'refreshToken', before.get(first.sub)!.refresh),
        accessToken: sealToken(newKeys, first.sub, 'accessToken', before.get(first.sub)!.access),
      },
    });
    expect(Object.fromEntries(await keyUsage(harness.db))).toEqual({ k1: 4, k2: 2 });

    const resealed = await onProject('--reseal-only');
    expect(resealed.code, resealed.stderr).toBe(0);
    expect(resealed.stdout).toContain('re-sealed 2 connection(s) under "k2"');
    expect(resealed.stdout).toMatch(/k1 +old +0\b/);
    expect(resealed.stdout).toMatch(/k2 +primary +6\b/);
    expect(resealed.stdout).toContain(
      `No value uses "k1" any more: npm run rotate-keys -- --project ${project} --drop k1`,
    );
    expect(Object.fromEntries(await keyUsage(harness.db))).toEqual({ k2: 6 });
    for (const user of users) {
      const now = await harness.connection(user.sub);
      expect(openToken(newKeys, user.sub, 'refreshToken', now.refreshToken!)).toBe(
        before.get(user.sub)!.refresh,
      );
      expect(openToken(newKeys, user.sub, 'accessToken', now.accessToken!)).toBe(
        before.get(user.sub)!.access,
      );
    }
    const again = await onProject('--reseal-only');
    expect(again.stdout).toContain('re-sealed 0 connection(s)');

    const dropped = await onProject('--drop', 'k1');
    expect(dropped.code, dropped.stderr).toBe(0);
    expect(dropped.stdout).toContain(`dropped key "k1": version 4 of secret ${SECRET}`);
    // The versions that still hold k1 are to be disabled once the deploy pins version 4.
    const disable = (n: number) =>
      `gcloud secrets versions disable ${n} --secret=${SECRET} --project=${project}`;
    expect(dropped.stdout).toContain(disable(1));
    expect(dropped.stdout).toContain(disable(3));
    expect(dropped.stdout).not.toContain(disable(2));
    const v4 = await storedKeyset(project, 4);
    expect(v4.state).toBe('ENABLED');
    expect(v4.wrapped.kmsKey).toBe(kmsKey);
    expect(v4.keyset.keyIds).toEqual(['k2']);
    // The new primary seals every value: dropping it is refused.
    deployPinning(project, 4, hourAgo);
    const primary = await onProject('--drop', 'k2');
    expect(primary.code).toBe(1);
    expect(primary.stderr).toContain('key "k2" still seals 6 stored value(s)');

    const material = [
      ...Object.values((JSON.parse(v3.json) as { keys: Record<string, string> }).keys),
    ];
    expect(material).toHaveLength(2);
    for (const out of outputs) {
      for (const key of material) expect(out.stdout + out.stderr).not.toContain(key);
      expect(out.stderr).not.toMatch(/^\s+at /m);
    }
  });

  it('a refused write names Google’s answer, not the keyset, and bad input is a clear message', async () => {
    // An unwrapped keyset (deployed with --no-kms): the refused request's body is the key material.
    const project = 'demo-runs-rot-nokms';
    const secret = `projects/${project}/secrets/${SECRET}`;
    const plain = purposeKeysetJson(harness.env.TOKEN_KEYSET!, 'token');
    secretManager.setVersion(`${secret}/versions/1`, plain);
    secretManager.denyAdd(secret);
    functions.deploy(project, []);
    const refused = await rotateKeys({}, '--project', project);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      `rotate-keys: Secret Manager addVersion on ${SECRET} failed: HTTP 403 PERMISSION_DENIED: Permission 'secretmanager.versions.add' denied`,
    );
    const key = (JSON.parse(plain) as { keys: Record<string, string> }).keys.k1!;
    expect(refused.stdout + refused.stderr).not.toContain(key);
    expect(refused.stderr).not.toMatch(/^\s+at /m);
    expect(secretManager.versions(secret)).toHaveLength(1);

    const badProject = await rotateKeys({}, '--project', 'Not/A_Project');
    expect(badProject.code).toBe(1);
    expect(badProject.stderr.trim()).toBe('rotate-keys: --project is not a valid project id');

    const missing = await rotateKeys({}, '--project', 'demo-runs-rot-none', '--status');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(
      `Secret Manager list of ${SECRET}'s versions failed: HTTP 404 NOT_FOUND`,
    );
  });
});

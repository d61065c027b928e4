// Rotation that finishes: after a new primary key, every stored token is re-sealed under it
// (through the guarded transition: a user who reconnected meanwhile is left alone), an
// interrupted re-seal completes when run again with nothing lost, `--status` shows zero values
// under the old key, and dropping a key still in use is refused with the count. Real Firestore
// emulator and the stand-in; the CLI runs as a process against them.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseKeyset, rotateKeysetJson } from '../../shared/crypto/keyset.ts';
import { storeConsent } from '../../shared/flows/consent-storage.ts';
import { keyUsage, resealAll } from '../../shared/keys/rotation.ts';
import { openToken, sealToken } from '../../shared/store/connection/document.ts';
import { grpcConnectionBackend } from '../../shared/store/connection/grpc-backend.ts';
import { createConnectionRepository } from '../../shared/store/connection/repository.ts';
import { ROOT } from '../local/stack.ts';
import { startRunHarness, stopOwnEmulators, type RunHarness } from './harness.ts';

let harness: RunHarness;
/** A project of its own for the CLI: its stored values are all under the harness's k1. */
let cliProject: RunHarness;
beforeAll(async () => {
  harness = await startRunHarness('rotation');
  cliProject = await startRunHarness('rotation-cli');
});
afterAll(async () => {
  await harness?.close();
  await cliProject?.close();
  await stopOwnEmulators();
});

const rotateKeys = (keysetFile: string, ...args: string[]) =>
  spawnSync(
    process.execPath,
    [path.join(ROOT, 'infra/node24.mjs'), 'infra/ops/rotate-keys.ts', ...args],
    {
      cwd: ROOT,
      encoding: 'utf8',
      env: {
        ...process.env,
        GOOGLE_CLOUD_PROJECT: cliProject.projectId,
        FIRESTORE_EMULATOR_HOST: cliProject.env.FIRESTORE_EMULATOR_HOST,
        TOKEN_KEYSET_FILE: keysetFile,
      },
    },
  );

describe('rotate-keys', () => {
  it('re-seals every value under the new key, resumably, leaving users who decided alone', async () => {
    const users = await harness.seedUsers(6, { prefix: 'rotate' });
    const oldKeys = await harness.runtime.keys('token');
    const before = new Map<string, { refresh: string; access: string }>();
    for (const user of users) {
      const stored = await harness.connection(user.sub);
      before.set(user.sub, {
        refresh: openToken(oldKeys, user.sub, 'refreshToken', stored.refreshToken!),
        access: openToken(oldKeys, user.sub, 'accessToken', stored.accessToken!),
      });
    }
    expect(Object.fromEntries(await keyUsage(harness.db))).toEqual({ k1: 12 });

    const rotated = parseKeyset(rotateKeysetJson(harness.env.TOKEN_KEYSET!, 'k2'));
    const newKeys = rotated.forPurpose('token');
    // Interrupted halfway: two users were re-sealed before the process died.
    const connections = createConnectionRepository(grpcConnectionBackend(harness.db));
    for (const user of users.slice(0, 2)) {
      const stored = await harness.connection(user.sub);
      const values = before.get(user.sub)!;
      await connections.resealTokens(user.sub, {
        from: { refreshToken: stored.refreshToken, accessToken: stored.accessToken },
        to: {
          refreshToken: sealToken(newKeys, user.sub, 'refreshToken', values.refresh),
          accessToken: sealToken(newKeys, user.sub, 'accessToken', values.access),
        },
      });
    }
    // A user reconnects with the old functions still running: a re-seal of what was read
    // before is refused (their new tokens are theirs), and the re-run picks up the new ones.
    const stale = await harness.connection(users[2]!.sub);
    const reconsent = await harness.consentAtGoogle(users[2]!.email);
    await storeConsent(harness.runtime, {
      sub: reconsent.sub,
      email: users[2]!.email,
      grantedScopes: reconsent.scopes,
      refreshToken: reconsent.refreshToken,
      refreshTokenExpiresInSeconds: undefined,
      accessToken: reconsent.accessToken,
      accessTokenExpiresAt: Date.now() + reconsent.expiresIn * 1000,
    });
    const refused = await connections.resealTokens(users[2]!.sub, {
      from: { refreshToken: stale.refreshToken, accessToken: stale.accessToken },
      to: { refreshToken: 'v1.k2.x.y', accessToken: 'v1.k2.x.y' },
    });
    expect(refused.kind).toBe('refused');
    before.set(users[2]!.sub, {
      refresh: reconsent.refreshToken,
      access: reconsent.accessToken,
    });

    const done = await resealAll(harness.db, newKeys);
    expect(done.resealed).toBeGreaterThanOrEqual(4);
    expect(Object.fromEntries(await keyUsage(harness.db))).toEqual({ k2: 12 });
    // Nothing lost: every token opens under the new key and is the same secret.
    for (const user of users) {
      const stored = await harness.connection(user.sub);
      expect(openToken(newKeys, user.sub, 'refreshToken', stored.refreshToken!)).toBe(
        before.get(user.sub)!.refresh,
      );
      expect(openToken(newKeys, user.sub, 'accessToken', stored.accessToken!)).toBe(
        before.get(user.sub)!.access,
      );
    }
    // Run again: nothing to do.
    expect((await resealAll(harness.db, newKeys)).resealed).toBe(0);
  });

  it('the CLI adds a key, re-seals, reports per key, and refuses to drop a key in use', async () => {
    await cliProject.seedUsers(3, { prefix: 'cli' });
    const dir = mkdtempSync(path.join(tmpdir(), 'cv-keys-'));
    const file = path.join(dir, 'token-keyset.json');
    // The keyset the stored values were sealed with (the harness's), as the local stack keeps it.
    writeFileSync(file, cliProject.env.TOKEN_KEYSET!, { mode: 0o600 });
    const status = rotateKeys(file, '--status');
    expect(status.status, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/k1 +primary +6\b/);
    const refused = rotateKeys(file, '--drop', 'k1');
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('key "k1" still seals 6 stored value(s)');
    const rotated = rotateKeys(file);
    expect(rotated.status, rotated.stderr).toBe(0);
    expect(rotated.stdout).toContain('added key');
    const keyIds = parseKeyset(readFileSync(file, 'utf8')).keyIds;
    const primary = keyIds[0]!;
    expect(primary).toBe('k2');
    expect(rotated.stdout).toContain('re-sealed 3 connection(s) under "k2"');
    expect(rotated.stdout).toMatch(/k1 +old +0\b/);
    expect(rotated.stdout).toMatch(/k2 +primary +6\b/);
    expect(Object.fromEntries(await keyUsage(cliProject.db))).toEqual({ k2: 6 });
    // A key still in use elsewhere? None now: k1 can go.
    const dropped = rotateKeys(file, '--drop', 'k1');
    expect(dropped.status, dropped.stderr).toBe(0);
    expect(parseKeyset(readFileSync(file, 'utf8')).keyIds).not.toContain('k1');
    // The new primary still seals values: dropping it is refused with the count.
    const inUse = rotateKeys(file, '--drop', primary);
    expect(inUse.status).toBe(1);
    expect(inUse.stderr).toMatch(/still seals \d+ stored value/);
    // The key material never reaches the output.
    const material = Object.values(
      (JSON.parse(readFileSync(file, 'utf8')) as { keys: Record<string, string> }).keys,
    );
    for (const out of [status, refused, rotated, dropped, inUse])
      for (const key of material) expect(out.stdout + out.stderr).not.toContain(key);
  });
});

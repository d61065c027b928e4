// An app adds a job without touching the core: `npm run new-job` writes the job and its test,
// nothing else changes, the scaffolded test passes against the stand-in, and the job runs for
// connected users in a real run (Firestore emulator, stand-in) once JOBS names it.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enabledJobs, jobCatalog } from '../../shared/jobs/catalog.ts';
import { jobFiles, loadJobFiles } from '../../shared/jobs/job-files.ts';
import { memoryPublisher } from '../../shared/pubsub/publisher.ts';
import { processBatch } from '../../shared/runs/batch.ts';
import { readLedger } from '../../shared/runs/ledger.ts';
import { batchId } from '../../shared/runs/messages.ts';
import { ROOT } from '../local/stack.ts';
import { startRunHarness, stopOwnEmulators, type RunHarness } from '../runs/harness.ts';
import { runPeriodFor } from '../../shared/runs/run-id.ts';

const NODE24 = path.join(ROOT, 'infra/node24.mjs');
// Inside the repository (so the job resolves `zod` like an app's jobs/ folder), git-ignored.
const dir = path.join(ROOT, '.local', `jobs-${randomBytes(4).toString('hex')}`);

function git(...args: string[]): string {
  return spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' }).stdout;
}

function newJob(...args: string[]) {
  return spawnSync(process.execPath, [NODE24, 'infra/jobs/new-job.ts', ...args, '--dir', dir], {
    cwd: ROOT,
    encoding: 'utf8',
  });
}

let harness: RunHarness;
beforeAll(async () => {
  harness = await startRunHarness('new-job');
});
afterAll(async () => {
  await harness?.close();
  await stopOwnEmulators();
  rmSync(dir, { recursive: true, force: true });
});

describe('npm run new-job', () => {
  it('writes the job and a passing test, and changes no other file', () => {
    const before = git('status', '--porcelain');
    const made = newJob('recent-files');
    expect(made.status, made.stderr).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['recent-files.test.ts', 'recent-files.ts']);
    expect(git('status', '--porcelain')).toBe(before);

    const tested = spawnSync(
      process.execPath,
      [NODE24, 'node_modules/vitest/vitest.mjs', 'run', '--config', 'test/vitest.config.ts', dir],
      { cwd: ROOT, encoding: 'utf8', env: { ...process.env, CONSENT_VAULT_JOBS_DIR: dir } },
    );
    expect(tested.status, tested.stdout + tested.stderr).toBe(0);
    expect(tested.stdout).toMatch(/2 passed/);
  });

  it('refuses a bad name, a scope that is not a URL, and a name that exists', () => {
    const bad = newJob('Recent Files');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('is not a job name');
    const scope = newJob('other-job', '--scope', 'drive.file');
    expect(scope.status).toBe(2);
    expect(scope.stderr).toContain('is not an https URL');
    const builtin = newJob('drive-export');
    expect(builtin.stderr).toContain('a job named "drive-export" exists already');
  });

  it('the scaffolded job runs for connected users, beside the built-in, in a real run', async () => {
    const users = await harness.seedUsers(3, { prefix: 'scaffold' });
    const jobs = enabledJobs(jobCatalog(await loadJobFiles(jobFiles(dir))).jobs, [
      'drive-export',
      'recent-files',
    ]);
    const deps = await harness.deps({ publisher: memoryPublisher(), jobs });
    const { runId } = runPeriodFor(Date.UTC(2031, 0, 1), 86400);
    await processBatch(
      deps,
      { v: 1, runId, batchId: batchId(0), subs: users.map((user) => user.sub) },
      { attempt: 1, final: true },
    );
    const ledger = await readLedger(
      harness.db,
      runId,
      users.map((user) => user.sub),
    );
    for (const entry of ledger.values()) {
      expect(entry.outcome).toBe('ok');
      expect(entry.jobs?.['recent-files']).toMatchObject({ outcome: 'ok', effect: 'listed' });
      expect(entry.jobs?.['drive-export']).toMatchObject({ outcome: 'ok', effect: 'created' });
    }
    expect(ledger.size).toBe(3);
  });
});

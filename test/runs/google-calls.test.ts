// The fewest Google calls (docs/jobs.md#memory-and-retries): in the steady state drive-export
// costs a user two calls, the refresh and one upload. The folder id is remembered on the
// connection and looked up again only when Drive says it is gone; the file is looked up only when
// an earlier attempt for the same user and period may have created it. Counted at the stand-in.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryPublisher } from '../../shared/pubsub/publisher.ts';
import { dispatchRun } from '../../shared/runs/dispatch.ts';
import { readRunReport } from '../../shared/runs/report.ts';
import { connectionRef } from '../support/connections.ts';
import {
  expireAccessTokens,
  startRunHarness,
  stopOwnEmulators,
  type RunHarness,
  type SeededUser,
} from './harness.ts';

let harness: RunHarness;
let users: SeededUser[];
let day = 0;

beforeAll(async () => {
  harness = await startRunHarness('calls', { RUN_INLINE: 'true', WORKER_CONCURRENCY: '4' });
  users = await harness.seedUsers(3, { prefix: 'calls' });
});
afterAll(async () => {
  await harness?.close();
  await stopOwnEmulators();
});

/** One daily run with every access token expired; its Google calls per user and Drive method. */
async function run() {
  day += 1;
  await expireAccessTokens(
    harness.db,
    users.map((user) => user.sub),
  );
  harness.standIn.control.clearRequestLog();
  const result = await dispatchRun(await harness.deps({ publisher: memoryPublisher() }), {
    scheduledAt: Date.parse('2027-01-01T05:00:00Z') + day * 86400e3,
  });
  const report = await readRunReport(harness.db, result.runId);
  expect(report?.outcomes).toEqual({ ok: users.length });
  const log = harness.standIn.control.requestLog();
  return {
    // The dispatcher's pre-flight probe of the client (a refresh with a dummy token) is not a user's.
    refreshes: log.filter((entry) => entry.endpoint === 'token' && entry.status === 200).length,
    drive: log
      .filter((entry) => entry.endpoint === 'drive')
      .map((entry) => `${entry.method} ${entry.status}`)
      .sort(),
  };
}

function times(count: number, call: string): string[] {
  return Array.from({ length: count }, () => call);
}

function exportsIn(user: SeededUser, folderName = 'consent-vault exports') {
  const files = harness.standIn.control.driveFiles(user.email);
  const folders = files.filter((file) => file.name === folderName && !file.trashed);
  return { folders, exports: files.filter((file) => file.name.startsWith('export-')) };
}

describe('drive-export Google calls per user', () => {
  it('first run: the folder is found or made; then two calls per user, the refresh and one upload', async () => {
    const first = await run();
    expect(first.refreshes).toBe(3);
    // Folder lookup, folder creation, file creation (a new folder is empty: no file lookup).
    expect(first.drive).toEqual([...times(3, 'GET 200'), ...times(6, 'POST 200')].sort());
    const steady = await run();
    expect(steady.refreshes).toBe(3);
    expect(steady.drive).toEqual(times(3, 'POST 200'));
    for (const user of users) {
      const { folders, exports } = exportsIn(user);
      expect(folders).toHaveLength(1);
      expect(exports).toHaveLength(2);
      expect(exports.every((file) => file.parents.includes(folders[0]!.id))).toBe(true);
    }
  });

  it('after a holder that stopped, one lookup finds what it may have made: still one file', async () => {
    const [victim] = users;
    // A delivery died holding the user's lease (after its upload, before its final write).
    await connectionRef(harness.db, victim!.sub).update({
      refreshLease: { holder: 'a-dead-instance', until: new Date(Date.now() - 1000) },
    });
    const retried = await run();
    expect(retried.refreshes).toBe(3);
    expect(retried.drive).toEqual(['GET 200', 'POST 200', 'POST 200', 'POST 200']);
    expect(exportsIn(victim!).exports).toHaveLength(3);
  });

  it('a folder the user deleted is looked up and made again, once', async () => {
    const [, victim] = users;
    const { folders } = exportsIn(victim!);
    harness.standIn.control.deleteDriveFile(victim!.email, folders[0]!.id);
    const repaired = await run();
    // The upload into the gone folder (404), the folder lookup and creation, the new upload.
    expect(repaired.drive).toEqual(
      ['POST 404', 'GET 200', 'POST 200', 'POST 200', 'POST 200', 'POST 200'].sort(),
    );
    const after = exportsIn(victim!);
    expect(after.folders).toHaveLength(1);
    expect(after.folders[0]!.id).not.toBe(folders[0]!.id);
    const next = await run();
    expect(next.drive).toEqual(times(3, 'POST 200'));
    expect(
      exportsIn(victim!).exports.filter((file) => file.parents.includes(after.folders[0]!.id)),
    ).toHaveLength(2);
  });
});

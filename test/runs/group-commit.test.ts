// The group committer against the Firestore emulator: writes of several users share a commit,
// and one user's refused write never fails another's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGroupCommitter } from '../../shared/runs/group-commit.ts';
import { isAlreadyExists } from '../../shared/runs/ledger.ts';
import { startRunHarness, stopOwnEmulators, type RunHarness } from './harness.ts';

let harness: RunHarness;

beforeAll(async () => {
  harness = await startRunHarness('group-commit');
});

afterAll(async () => {
  await harness?.close();
  await stopOwnEmulators();
});

function counted(harness: RunHarness): { commits: () => number } {
  const db = harness.db as unknown as {
    request: (method: string, ...rest: unknown[]) => Promise<unknown>;
  };
  const request = db.request.bind(harness.db);
  let commits = 0;
  db.request = (method, ...rest) => {
    if (method === 'commit') commits += 1;
    return request(method, ...rest);
  };
  return { commits: () => commits };
}

describe('group commit', () => {
  it('users queued behind a commit in flight share the next one', async () => {
    const { db } = harness;
    const counter = counted(harness);
    const committer = createGroupCommitter(db);
    const before = counter.commits();
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        committer.commit((batch) => {
          batch.create(db.collection('gc').doc(`a${i}`), { i });
          batch.create(db.collection('gc-ledger').doc(`a${i}`), { i });
        }),
      ),
    );
    // The first goes alone at once; the other nine wait for it and go together.
    expect(counter.commits() - before).toBe(2);
    const docs = await db.collection('gc').get();
    expect(docs.size).toBe(10);
  });

  it("one user's refused write fails only that user, and each user's writes stay atomic", async () => {
    const { db } = harness;
    await db.collection('gc-ledger').doc('taken').create({ first: true });
    const committer = createGroupCommitter(db);
    const blocker = committer.commit((batch) => batch.set(db.collection('gc').doc('b0'), {}));
    const results = await Promise.allSettled(
      ['ok1', 'taken', 'ok2'].map((id) =>
        committer.commit((batch) => {
          batch.set(db.collection('gc').doc(id), { done: true });
          batch.create(db.collection('gc-ledger').doc(id), { id });
        }),
      ),
    );
    await blocker;
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(isAlreadyExists((results[1] as PromiseRejectedResult).reason)).toBe(true);
    expect((await db.collection('gc').doc('ok1').get()).exists).toBe(true);
    expect((await db.collection('gc').doc('ok2').get()).exists).toBe(true);
    // The refused user's other write did not happen either.
    expect((await db.collection('gc').doc('taken').get()).exists).toBe(false);
    expect((await db.collection('gc-ledger').doc('taken').get()).data()).toEqual({ first: true });
  });
});

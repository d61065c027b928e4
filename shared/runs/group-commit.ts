// Group commit for the per-user writes of one instance: while a commit is in flight, the writes of
// other users queue up and go together in the next commit, so under load N users cost one round
// trip instead of N, and an idle instance adds no delay at all (the first write goes at once).
// Each user's writes stay atomic among themselves, exactly as with a commit of their own: when a
// group commit fails (a ledger record that exists already, a lease precondition, anything), every
// member commits again on its own and gets its own answer. Nothing is acknowledged before its
// commit has succeeded, so a crash loses only writes nobody was told about.
import type { Firestore, WriteBatch } from '@google-cloud/firestore';

/** Adds one user's writes to a batch. Called once per commit attempt. */
export type Writes = (batch: WriteBatch) => void;

export interface GroupCommitter {
  commit(writes: Writes): Promise<void>;
}

interface Pending {
  readonly writes: Writes;
  resolve(): void;
  reject(error: unknown): void;
}

/** Users per commit: 2 writes each, far below Firestore's 500 writes per commit. */
const MAX_GROUP = 50;

export function createGroupCommitter(db: Firestore): GroupCommitter {
  const queue: Pending[] = [];
  let inFlight = false;

  const commitAlone = async (member: Pending): Promise<void> => {
    try {
      const batch = db.batch();
      member.writes(batch);
      await batch.commit();
      member.resolve();
    } catch (error) {
      member.reject(error);
    }
  };

  const flush = async (): Promise<void> => {
    inFlight = true;
    while (queue.length > 0) {
      const group = queue.splice(0, MAX_GROUP);
      if (group.length === 1) {
        await commitAlone(group[0] as Pending);
        continue;
      }
      try {
        const batch = db.batch();
        for (const member of group) member.writes(batch);
        await batch.commit();
        for (const member of group) member.resolve();
      } catch {
        // Some member's write was refused (or the commit failed as a whole): each member tries
        // alone, so one user's refusal never becomes another's.
        await Promise.all(group.map(commitAlone));
      }
    }
    inFlight = false;
  };

  return {
    commit(writes) {
      return new Promise<void>((resolve, reject) => {
        queue.push({ writes, resolve, reject });
        if (!inFlight) void flush();
      });
    },
  };
}

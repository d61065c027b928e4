// Group commit for the per-user writes of one instance: while a commit is in flight, the writes of
// other users queue up and go together in the next commit, so under load N users cost one round
// trip instead of N, and an idle instance adds no delay at all (the first write goes at once).
// Each user's writes stay atomic among themselves, exactly as with a commit of their own: when a
// group commit fails (a ledger record that exists already, a lease precondition, anything), every
// member commits again on its own and gets its own answer. Nothing is acknowledged before its
// commit has succeeded, so a crash loses only writes nobody was told about.
import type { Firestore, WriteBatch, WriteResult } from '@google-cloud/firestore';

/** The writes a member may add; counted, so each member gets its own write results. */
export type BatchWriter = Pick<WriteBatch, 'create' | 'set' | 'update' | 'delete'>;

/** Adds one user's writes to a batch. Called once per commit attempt. */
export type Writes = (batch: BatchWriter) => void;

/** Commits one user's writes; resolves with their results, in the order they were added. */
export type CommitWrites = (writes: Writes) => Promise<WriteResult[]>;

export interface GroupCommitter {
  commit: CommitWrites;
}

interface Pending {
  readonly writes: Writes;
  resolve(results: WriteResult[]): void;
  reject(error: unknown): void;
}

/** Adds a member's writes to `batch`; says how many it added. */
function addWrites(batch: WriteBatch, writes: Writes): number {
  let count = 0;
  const counted = (name: keyof BatchWriter) => {
    const method = batch[name].bind(batch) as (...args: unknown[]) => WriteBatch;
    return (...args: unknown[]) => {
      count += 1;
      return method(...args);
    };
  };
  // Each method adds exactly one write.
  writes({
    create: counted('create'),
    set: counted('set'),
    update: counted('update'),
    delete: counted('delete'),
  } as BatchWriter);
  return count;
}

/** Users per commit: 2 writes each, far below Firestore's 500 writes per commit. */
const MAX_GROUP = 50;

export function createGroupCommitter(db: Firestore): GroupCommitter {
  const queue: Pending[] = [];
  let inFlight = false;

  const commitAlone = async (member: Pending): Promise<void> => {
    try {
      const batch = db.batch();
      addWrites(batch, member.writes);
      member.resolve(await batch.commit());
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
        const counts = group.map((member) => addWrites(batch, member.writes));
        const results = await batch.commit();
        let offset = 0;
        group.forEach((member, index) => {
          const count = counts[index] ?? 0;
          member.resolve(results.slice(offset, offset + count));
          offset += count;
        });
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
      return new Promise<WriteResult[]>((resolve, reject) => {
        queue.push({ writes, resolve, reject });
        if (!inFlight) void flush();
      });
    },
  };
}

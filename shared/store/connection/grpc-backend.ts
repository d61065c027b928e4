// The connection repository over @google-cloud/firestore (gRPC), for the runners. A guarded
// write is an `update` with the precondition `lastUpdateTime` (a whole-document `set` takes no
// precondition), so every field of the document is named: fields a revoked connection no longer
// keeps are deleted. The commit may be shared with other users' writes (../../runs/group-commit.ts);
// each user still gets the answer of its own writes.
import type { DocumentSnapshot, Firestore, WriteResult } from '@google-cloud/firestore';
import { FieldPath, FieldValue, Timestamp } from '@google-cloud/firestore';
import type { BatchWriter, CommitWrites } from '../../runs/group-commit.ts';
import {
  completeConnection,
  CONNECTIONS,
  REVOKED_FIELDS,
  storedFields,
  type Connection,
} from './document.ts';
import type { ConnectionBackend, Snapshot, Version } from './repository.ts';

/** gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
const ALREADY_EXISTS = 6;
const FAILED_PRECONDITION = 9;

export interface GrpcBackend extends ConnectionBackend {
  /** Snapshots of many users in one round trip (a batch's first read). */
  readAll(subs: readonly string[]): Promise<Map<string, Snapshot>>;
}

export function grpcConnectionBackend(db: Firestore, commit?: CommitWrites): GrpcBackend {
  const ref = (sub: string) => db.collection(CONNECTIONS).doc(sub);
  const commitWrites: CommitWrites =
    commit ??
    (async (writes) => {
      const batch = db.batch();
      writes(batch);
      return batch.commit();
    });
  const read = async (sub: string) => snapshotOf(await ref(sub).get());
  return {
    read,
    async readAll(subs) {
      const snapshots = new Map<string, Snapshot>();
      if (subs.length === 0) return snapshots;
      for (const snapshot of await db.getAll(...subs.map(ref)))
        snapshots.set(snapshot.id, snapshotOf(snapshot));
      return snapshots;
    },
    async write({ connection, expected, alongside }) {
      const target = ref(connection.sub);
      const data = fieldsToWrite(connection);
      let results: WriteResult[];
      try {
        results = await commitWrites((batch: BatchWriter) => {
          if (expected === undefined) batch.create(target, data);
          else batch.update(target, data, { lastUpdateTime: timestampOf(expected) });
          for (const record of alongside) {
            const side = db.doc(record.path);
            if (record.op === 'delete') batch.delete(side);
            else if (record.op === 'set' && record.expect)
              if (record.expect.updateTime === undefined) batch.create(side, record.data);
              else
                batch.update(side, record.data as Record<string, unknown>, {
                  lastUpdateTime: timestampOf(record.expect.updateTime as Version),
                });
            else if (record.op === 'set')
              batch.set(
                side,
                record.data,
                record.mergeFields
                  ? { mergeFields: record.mergeFields.map((names) => new FieldPath(...names)) }
                  : {},
              );
            else batch.create(side, record.data);
          }
        });
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (code === FAILED_PRECONDITION) return { kind: 'conflict' };
        if (code === ALREADY_EXISTS) return { kind: 'exists' };
        throw error;
      }
      return { kind: 'written', version: versionOf(results[0]!.writeTime) };
    },
  };
}

function fieldsToWrite(connection: Connection): Record<string, unknown> {
  const data: Record<string, unknown> = { ...storedFields(connection) };
  if (connection.state === 'revoked')
    for (const field of Object.keys(connection))
      if (!(REVOKED_FIELDS as readonly string[]).includes(field)) data[field] = FieldValue.delete();
  return data;
}

function snapshotOf(snapshot: DocumentSnapshot): Snapshot {
  if (!snapshot.exists) return { connection: undefined, version: undefined };
  const plain = withDates(snapshot.data()) as Partial<Connection> &
    Pick<Connection, 'sub' | 'state'>;
  return {
    connection: completeConnection(plain),
    version: versionOf(snapshot.updateTime!),
    writtenAt: snapshot.updateTime!.toDate(),
  };
}

/** Timestamps as Dates, at any depth. */
function withDates(value: unknown): unknown {
  if (value instanceof Timestamp) return value.toDate();
  if (Array.isArray(value)) return value.map(withDates);
  if (typeof value === 'object' && value !== null) {
    const plain: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) plain[key] = withDates(item);
    return plain;
  }
  return value;
}

function versionOf(time: Timestamp): Version {
  return `${time.seconds}.${String(time.nanoseconds).padStart(9, '0')}` as Version;
}

function timestampOf(version: Version): Timestamp {
  const [seconds, nanos] = version.split('.');
  return new Timestamp(Number(seconds), Number(nanos));
}

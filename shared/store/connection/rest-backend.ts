// The connection repository over Firestore's REST API (../firestore-rest.ts), for the functions a
// person waits on (callback, revoke): no gRPC or protobufjs on their cold start. A guarded write
// is one commit whose first write carries the precondition (`currentDocument.updateTime`, or
// `exists: false`) and whose created side records must not exist.
// https://cloud.google.com/firestore/docs/reference/rest/v1/Precondition
import { isFirestoreStatus, type FirestoreDocuments, type Write } from '../firestore-rest.ts';
import { fromFields, toFields, type Plain } from '../firestore-values.ts';
import { completeConnection, connectionPath, storedFields, type Connection } from './document.ts';
import type { ConnectionBackend, Snapshot, Version } from './repository.ts';

export function restConnectionBackend(documents: FirestoreDocuments): ConnectionBackend {
  const read = async (sub: string): Promise<Snapshot> => {
    const stored = await documents.get(connectionPath(sub));
    if (stored === undefined) return { connection: undefined, version: undefined };
    const plain = fromFields(stored.fields) as Partial<Connection> &
      Pick<Connection, 'sub' | 'state'>;
    return {
      connection: completeConnection(plain),
      version: stored.updateTime as Version,
      writtenAt: new Date(stored.updateTime),
    };
  };
  return {
    read,
    async write({ connection, expected, alongside }) {
      const writes: Write[] = [
        {
          update: {
            name: documents.name(connectionPath(connection.sub)),
            fields: toFields(storedFields(connection) as Record<string, Plain>),
          },
          currentDocument: expected === undefined ? { exists: false } : { updateTime: expected },
        },
        ...alongside.map((record): Write => {
          const name = documents.name(record.path);
          if (record.op === 'delete') return { delete: name };
          const update = { name, fields: toFields(record.data as Record<string, Plain>) };
          if (record.op !== 'set') return { update, currentDocument: { exists: false } };
          if (record.expect)
            return {
              update,
              currentDocument:
                record.expect.updateTime === undefined
                  ? { exists: false }
                  : { updateTime: record.expect.updateTime },
            };
          if (!record.mergeFields) return { update };
          return { update, updateMask: { fieldPaths: record.mergeFields.map(fieldPath) } };
        }),
      ];
      try {
        const [updateTime] = await documents.commit(writes);
        return { kind: 'written', version: updateTime as Version };
      } catch (error) {
        if (isFirestoreStatus(error, 'FAILED_PRECONDITION')) return { kind: 'conflict' };
        if (isFirestoreStatus(error, 'ALREADY_EXISTS')) return { kind: 'exists' };
        throw error;
      }
    },
  };
}

/** A Firestore field path: names that are not plain identifiers are quoted with backticks. */
function fieldPath(names: readonly string[]): string {
  return names
    .map((name) =>
      /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? name : `\`${name.replace(/[`\\]/g, '\\$&')}\``,
    )
    .join('.');
}

// After the whole suite: every collection that any test's code wrote documents with an
// `expireAt` into has a TTL policy in firestore.indexes.json (the deploy applies exactly those),
// so no record the code means to expire grows forever. The suite's Firestore projects are walked
// in the emulator: root collections and their subcollections, sampling documents of each.
import type { CollectionReference, Firestore } from '@google-cloud/firestore';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFirestore } from '../../shared/store/firestore.ts';

const dir = process.env.CV_CAPTURE_DIR;
/** Documents read per collection for `expireAt`, and whose subcollections are listed. */
const SAMPLE = 20;
const SUBCOLLECTION_SAMPLE = 8;

async function expiringCollections(db: Firestore): Promise<Set<string>> {
  const found = new Set<string>();
  const walk = async (collections: CollectionReference[], depth: number): Promise<void> => {
    for (const collection of collections) {
      const sample = await collection.limit(SAMPLE).get();
      if (sample.docs.some((doc) => doc.get('expireAt') !== undefined)) found.add(collection.id);
      if (depth < 3)
        for (const doc of sample.docs.slice(0, SUBCOLLECTION_SAMPLE))
          await walk(await doc.ref.listCollections(), depth + 1);
    }
  };
  await walk(await db.listCollections(), 0);
  return found;
}

describe('Firestore records of the whole suite', () => {
  it('every collection written with an expireAt has a TTL policy', async () => {
    expect(dir, 'run through npm test').toBeTruthy();
    const host = process.env.FIRESTORE_EMULATOR_HOST;
    expect(host, 'run through npm test').toBeTruthy();
    const projects = new Set<string>();
    for (const name of await readdir(dir!))
      if (name.startsWith('projects-'))
        for (const id of (await readFile(path.join(dir!, name), 'utf8')).split('\n'))
          if (id) projects.add(id);
    expect(projects.size).toBeGreaterThan(0);

    const found = new Set<string>();
    const ids = [...projects];
    const lane = async () => {
      for (let id = ids.pop(); id !== undefined; id = ids.pop()) {
        const db = await createFirestore(
          { projectId: id, firestoreDatabase: '(default)', firestoreEmulatorHost: host },
          'grpc',
        );
        try {
          for (const collection of await expiringCollections(db)) found.add(collection);
        } finally {
          await db.terminate();
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, lane));

    const indexes = JSON.parse(
      await readFile(new URL('../../firestore.indexes.json', import.meta.url), 'utf8'),
    ) as { fieldOverrides: { collectionGroup: string; fieldPath: string; ttl?: boolean }[] };
    const ttl = new Set(
      indexes.fieldOverrides
        .filter((field) => field.ttl && field.fieldPath === 'expireAt')
        .map((field) => field.collectionGroup),
    );
    // The walk must find the run records at least, or it proves nothing.
    expect([...found]).toEqual(expect.arrayContaining(['runs', 'ledger', 'deliveries']));
    expect([...found].filter((collection) => !ttl.has(collection))).toEqual([]);
  });
});

// One Firestore handle per warm instance, created on first use. @google-cloud/firestore costs
// ~120 ms to load (it pulls gRPC even with preferRest), so it is imported lazily and never by
// the authorize function. preferRest makes the first call faster (platform-facts.md).
import type { Firestore } from '@google-cloud/firestore';
import type { Config } from '../config.ts';
import { staticTokenAuthClient } from '../oauth/google-client.ts';

export type FirestoreSettings = Pick<
  Config,
  'projectId' | 'firestoreDatabase' | 'firestoreEmulatorHost'
>;

export async function createFirestore(settings: FirestoreSettings): Promise<Firestore> {
  const { Firestore } = await import('@google-cloud/firestore');
  if (settings.firestoreEmulatorHost === undefined) {
    return new Firestore({
      projectId: settings.projectId,
      databaseId: settings.firestoreDatabase,
      preferRest: true,
      ignoreUndefinedProperties: true,
    });
  }
  // The emulator: plain HTTP and an auth client that yields a static "owner" token, which the
  // REST transport insists on even though the emulator ignores it.
  const authClient = await staticTokenAuthClient('owner');
  const [host, port] = settings.firestoreEmulatorHost.split(':');
  return new Firestore({
    projectId: settings.projectId,
    databaseId: settings.firestoreDatabase,
    preferRest: true,
    ignoreUndefinedProperties: true,
    host,
    port: Number(port),
    ssl: false,
    authClient,
  });
}

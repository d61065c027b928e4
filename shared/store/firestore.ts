// One Firestore handle per warm instance, created on first use. @google-cloud/firestore costs
// ~120 ms to load (it pulls gRPC even with preferRest), so it is imported lazily and never by
// the authorize function. preferRest makes the first call faster (platform-facts.md).
import type { Firestore } from '@google-cloud/firestore';
import type { Config } from '../config.ts';

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
  const { OAuth2Client } = await import('google-auth-library');
  const authClient = new OAuth2Client();
  authClient.setCredentials({ access_token: 'owner', expiry_date: Date.now() + 365 * 86400e3 });
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
  } as ConstructorParameters<typeof Firestore>[0]);
}

// One Firestore handle per warm instance, created on first use. @google-cloud/firestore is slow
// to load, gRPC included even with preferRest, so it is imported lazily and bundled by none of
// the HTTP functions (docs/google-behaviours.md#client-library-load-costs).
//
// Two transports, chosen per function:
// - 'rest' (preferRest) for the operator tools: the first call is faster, no gRPC channel to set
//   up for a one-shot command (docs/google-behaviours.md#firestore-client). The HTTP functions
//   use neither: they go through the lighter shared/store/firestore-rest.ts.
// - 'grpc' for the batch runners: one HTTP/2 channel multiplexes every commit and read, in binary
//   protobuf instead of protobuf-JSON over HTTP/1.1, which costs less CPU on both sides, the
//   client's and Firestore's (`npm run bench:run` measures it: test/bench/README.md).
import type { Firestore } from '@google-cloud/firestore';
import type { Config } from '../settings/config.ts';
import { staticTokenAuthClient } from '../oauth/google-client.ts';

export type FirestoreSettings = Pick<
  Config,
  'projectId' | 'firestoreDatabase' | 'firestoreEmulatorHost'
>;

export type FirestoreTransport = 'rest' | 'grpc';

export async function createFirestore(
  settings: FirestoreSettings,
  transport: FirestoreTransport = 'rest',
): Promise<Firestore> {
  const { Firestore } = await import('@google-cloud/firestore');
  const preferRest = transport === 'rest';
  if (settings.firestoreEmulatorHost === undefined) {
    return new Firestore({
      projectId: settings.projectId,
      databaseId: settings.firestoreDatabase,
      preferRest,
      ignoreUndefinedProperties: true,
    });
  }
  // The emulator: plain HTTP (or insecure gRPC) and an auth client that yields a static "owner"
  // token, which the REST transport insists on even though the emulator ignores it.
  const authClient = await staticTokenAuthClient('owner');
  const [host, port] = settings.firestoreEmulatorHost.split(':');
  return new Firestore({
    projectId: settings.projectId,
    databaseId: settings.firestoreDatabase,
    preferRest,
    ignoreUndefinedProperties: true,
    host,
    port: Number(port),
    ssl: false,
    authClient,
  });
}

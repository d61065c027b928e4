// The heavy Google clients, for the functions that need them (revoke and the batch runners; the
// callback has its own, lighter set: shared/consent-services.ts). Each is still loaded lazily, on
// first use.
import { warmUpClients } from './code-cache-warm-up.ts';
import { restEvents } from './consent-services.ts';
import type { GoogleServices } from './runtime.ts';
import { secretManagerAccessor } from './secret-manager.ts';
import { createFirestore } from './store/firestore.ts';

export const googleServices: GoogleServices = {
  firestore: createFirestore,
  events: restEvents,
  secretManager: secretManagerAccessor,
  warmUp: warmUpClients,
};

/** The batch runners (dispatcher, worker): Firestore over gRPC, built for throughput. */
export const runnerServices: GoogleServices = {
  ...googleServices,
  firestore: (config) => createFirestore(config, 'grpc'),
};

// The Google clients of the batch runners (dispatcher, worker): those of the HTTP functions
// (shared/platform/http-services.ts; the runs complete pending revocations through the same code as revoke)
// plus @google-cloud/firestore over gRPC for the runs themselves, built for throughput
// (shared/store/firestore.ts). Each is still loaded lazily, on first use.
import { httpServices } from './http-services.ts';
import type { GoogleServices } from './runtime.ts';
import { createFirestore } from '../store/firestore.ts';

export const runnerServices: GoogleServices = {
  ...httpServices,
  firestore: (config) => createFirestore(config, 'grpc'),
};

// The Google clients of the HTTP functions a person waits on (callback, revoke): Firestore and
// Pub/Sub through their REST APIs, so that a consent or an unsubscribe loads neither gRPC nor
// protobufjs (npm run bench:coldstart). Each is loaded lazily, on first use; the Secret Manager
// client (gRPC-based) only when a secret is read by resource name, and the Cloud KMS client only
// when a keyset is stored wrapped: each once per instance.
import { warmUpClients } from './code-cache-warm-up.ts';
import { createEventPublisher } from '../pubsub/events.ts';
import { restPublisher } from '../pubsub/rest-publisher.ts';
import type { GoogleServices } from './runtime.ts';
import { kmsKeyWrapper } from '../secrets/kms.ts';
import { secretManagerAccessor } from '../secrets/secret-manager.ts';
import { createFirestoreDocuments } from '../store/firestore-rest.ts';

/** Connection events over Pub/Sub's REST API (shared/pubsub/rest-publisher.ts). */
export const restEvents: NonNullable<GoogleServices['events']> = (config, log, clock) =>
  createEventPublisher(restPublisher(config), config.pubsub.eventsTopic, log, () => clock.now());

export const httpServices: GoogleServices = {
  documents: createFirestoreDocuments,
  events: restEvents,
  secretManager: secretManagerAccessor,
  kms: kmsKeyWrapper,
  warmUp: warmUpClients,
};

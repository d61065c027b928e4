// The heavy Google clients, for the functions that need them (everything but authorize).
// Each is still loaded lazily, on first use.
import { createEventPublisher } from './events.ts';
import { warmUpClients } from './code-cache-warm-up.ts';
import { restPublisher } from './pubsub-rest.ts';
import type { GoogleServices } from './runtime.ts';
import { secretManagerAccessor } from './secret-manager.ts';
import { createFirestore } from './store/firestore.ts';

export const googleServices: GoogleServices = {
  firestore: createFirestore,
  events: (config, log, clock) =>
    createEventPublisher(restPublisher(config), config.pubsub.eventsTopic, log, () => clock.now()),
  secretManager: secretManagerAccessor,
  warmUp: warmUpClients,
};

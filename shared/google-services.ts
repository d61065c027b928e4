// The heavy Google clients, for the functions that need them (everything but authorize).
// Each is still loaded lazily, on first use.
import type { GoogleServices } from './runtime.ts';
import { secretManagerAccessor } from './secret-manager.ts';
import { createFirestore } from './store/firestore.ts';

export const googleServices: GoogleServices = {
  firestore: createFirestore,
  secretManager: secretManagerAccessor,
};

// Tests read and seed connection documents directly, through @google-cloud/firestore, to see
// exactly what the repository (shared/store/connection/) stored.
import type { Firestore } from '@google-cloud/firestore';
import { CONNECTIONS } from '../../shared/store/connection/document.ts';

export function connectionRef(db: Firestore, sub: string) {
  return db.collection(CONNECTIONS).doc(sub);
}

// The callback's single use, server-side: before a code is exchanged, the transaction's state is
// recorded (`callbackStates/{sha256(state)}`, create-if-absent), so the same callback URL sent
// twice (a double click, a restored tab) exchanges the code once; Google would otherwise revoke
// every token minted from a code used twice. The second request answers what the first did: it
// waits for the first to finish and replays its answer (status, location, page), never a cookie.
// Records expire with the transaction (TTL field `expireAt`, firestore.indexes.json).
import { isFirestoreStatus, type FirestoreDocuments } from './firestore-rest.ts';
import { fromFields, toFields } from './firestore-values.ts';

const CALLBACK_STATES = 'callbackStates';

/** What the first request answered, replayed to any later one. */
export interface RecordedAnswer {
  readonly status: number;
  readonly location: string | null;
  readonly body: string;
}

export type CallbackState =
  { readonly kind: 'pending' } | { readonly kind: 'done'; readonly answer: RecordedAnswer };

const path = (stateHash: string) => `${CALLBACK_STATES}/${stateHash}`;

/** Claims the state for this request; false when another request claimed it first. */
export async function claimCallbackState(
  documents: FirestoreDocuments,
  stateHash: string,
  expireAt: Date,
): Promise<boolean> {
  try {
    await documents.commit([
      {
        update: {
          name: documents.name(path(stateHash)),
          fields: toFields({ phase: 'pending', expireAt }),
        },
        currentDocument: { exists: false },
      },
    ]);
    return true;
  } catch (error) {
    if (isFirestoreStatus(error, 'ALREADY_EXISTS')) return false;
    throw error;
  }
}

export async function recordCallbackAnswer(
  documents: FirestoreDocuments,
  stateHash: string,
  record: { readonly answer: RecordedAnswer; readonly expireAt: Date },
): Promise<void> {
  const { answer, expireAt } = record;
  await documents.commit([
    {
      update: {
        name: documents.name(path(stateHash)),
        fields: toFields({ phase: 'done', ...answer, expireAt }),
      },
    },
  ]);
}

export async function readCallbackState(
  documents: FirestoreDocuments,
  stateHash: string,
): Promise<CallbackState | undefined> {
  const stored = await documents.get(path(stateHash));
  if (stored === undefined) return undefined;
  const plain = fromFields(stored.fields);
  if (plain.phase !== 'done') return { kind: 'pending' };
  return {
    kind: 'done',
    answer: {
      status: Number(plain.status),
      location: typeof plain.location === 'string' ? plain.location : null,
      body: typeof plain.body === 'string' ? plain.body : '',
    },
  };
}

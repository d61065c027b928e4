// Key rotation that finishes (docs/operations.md#rotate-the-keys): once every function runs with a
// keyset whose primary is the new key, every sealed value still under an older key is re-sealed
// under the primary, in pages, each connection through the guarded `tokensResealed` transition
// (a user who revoked, reconnected or was refreshed meanwhile is left alone: their values are
// new already). Interrupted, it is simply run again: what is done is under the primary and is
// skipped. `keyUsage` counts the values under each key id, so a key is dropped only when nothing
// uses it.
import { FieldPath, type Firestore } from '@google-cloud/firestore';
import { sealedKeyId } from '../crypto/aead.ts';
import type { PurposeKeys } from '../crypto/keyset.ts';
import {
  CONNECTIONS,
  openToken,
  sealToken,
  type TokenField,
} from '../store/connection/document.ts';
import { grpcConnectionBackend } from '../store/connection/grpc-backend.ts';
import { createConnectionRepository } from '../store/connection/repository.ts';

const FIELDS: readonly TokenField[] = ['refreshToken', 'accessToken'];
const PAGE = 300;

/** Sealed token values per key id (refresh and access tokens, revoke-pending ones included). */
export async function keyUsage(db: Firestore): Promise<Map<string, number>> {
  const usage = new Map<string, number>();
  for await (const page of pages(db))
    for (const doc of page)
      for (const field of FIELDS) {
        const sealed = doc.get(field) as unknown;
        if (typeof sealed !== 'string') continue;
        const keyId = sealedKeyId(sealed) ?? 'unknown';
        usage.set(keyId, (usage.get(keyId) ?? 0) + 1);
      }
  return usage;
}

/** Connections per DPoP key thumbprint their refresh token is bound to (a key in use stays). */
export async function dpopBindings(db: Firestore): Promise<Map<string, number>> {
  const bound = new Map<string, number>();
  const found = await db
    .collection(CONNECTIONS)
    .where('dpopJkt', '!=', null)
    .select('dpopJkt')
    .get();
  for (const doc of found.docs) {
    const jkt = doc.get('dpopJkt') as string;
    bound.set(jkt, (bound.get(jkt) ?? 0) + 1);
  }
  return bound;
}

export interface ResealProgress {
  readonly scanned: number;
  readonly resealed: number;
  /** Connections a user's decision changed meanwhile: left as they are. */
  readonly skipped: number;
}

export async function resealAll(
  db: Firestore,
  keys: PurposeKeys,
  onProgress: (progress: ResealProgress) => void = () => {},
): Promise<ResealProgress> {
  const connections = createConnectionRepository(grpcConnectionBackend(db));
  const stale = (sealed: unknown) =>
    typeof sealed === 'string' && sealedKeyId(sealed) !== keys.primaryId;
  let progress: ResealProgress = { scanned: 0, resealed: 0, skipped: 0 };
  for await (const page of pages(db)) {
    const due = page.filter((doc) => FIELDS.some((field) => stale(doc.get(field))));
    const results = await Promise.all(
      due.map(async (doc) => {
        const sub = doc.id;
        const from = {
          refreshToken: (doc.get('refreshToken') as string | null | undefined) ?? null,
          accessToken: (doc.get('accessToken') as string | null | undefined) ?? null,
        };
        const reseal = (field: TokenField, sealed: string | null) =>
          sealed === null ? null : sealToken(keys, sub, field, openToken(keys, sub, field, sealed));
        const applied = await connections.resealTokens(sub, {
          from,
          to: {
            refreshToken: reseal('refreshToken', from.refreshToken),
            accessToken: reseal('accessToken', from.accessToken),
          },
        });
        return applied.kind === 'written';
      }),
    );
    const resealed = results.filter(Boolean).length;
    progress = {
      scanned: progress.scanned + page.length,
      resealed: progress.resealed + resealed,
      skipped: progress.skipped + results.length - resealed,
    };
    onProgress(progress);
  }
  return progress;
}

/** Every connection, a page at a time, token fields only (still sealed). */
async function* pages(db: Firestore) {
  let cursor: string | undefined;
  for (;;) {
    let query = db
      .collection(CONNECTIONS)
      .orderBy(FieldPath.documentId())
      .select(...FIELDS)
      .limit(PAGE);
    if (cursor !== undefined) query = query.startAfter(cursor);
    const page = await query.get();
    if (page.empty) return;
    yield page.docs;
    cursor = page.docs[page.docs.length - 1]!.id;
    if (page.size < PAGE) return;
  }
}

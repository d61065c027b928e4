// The app's users and the Google account each one connected: `appUsers/{appUserId}` = `{ sub }`,
// written in the same commit as the consent that made the connection (guarded by the version the
// callback read, so two Google accounts connecting at once for one app user cannot both win), and
// `connectLinks/{nonce}`: a connect link's single use, kept until its TTL (`expireAt`).
import { isFirestoreStatus, type FirestoreDocuments } from './firestore-rest.ts';
import { fromFields, toFields } from './firestore-values.ts';
import type { SideRecord } from './connection/repository.ts';

export const APP_USERS = 'appUsers';
export const CONNECT_LINKS = 'connectLinks';

export interface AppUserRecord {
  readonly sub: string;
  /** Firestore's update time of the record, as read (the guard of the next write). */
  readonly version: string;
}

export async function readAppUser(
  documents: FirestoreDocuments,
  appUserId: string,
): Promise<AppUserRecord | undefined> {
  const stored = await documents.get(`${APP_USERS}/${appUserId}`);
  if (stored === undefined) return undefined;
  const sub = fromFields(stored.fields).sub;
  return typeof sub === 'string' ? { sub, version: stored.updateTime } : undefined;
}

/** The mapping to write with the consent: only over the version read (or none). */
export function appUserWrite(
  appUserId: string,
  sub: string,
  read: AppUserRecord | undefined,
  now: Date,
): SideRecord {
  return {
    path: `${APP_USERS}/${appUserId}`,
    op: 'set',
    data: { sub, updatedAt: now },
    expect: { updateTime: read?.version },
  };
}

/** Claims a connect link's nonce; false when it was used before. */
export async function claimConnectLink(
  documents: FirestoreDocuments,
  link: { readonly nonce: string; readonly appUserId: string; readonly expiresAt: number },
): Promise<boolean> {
  try {
    await documents.commit([
      {
        update: {
          name: documents.name(`${CONNECT_LINKS}/${link.nonce}`),
          fields: toFields({
            appUserId: link.appUserId,
            expireAt: new Date(link.expiresAt + 86400e3),
          }),
        },
        currentDocument: { exists: false },
      },
    ]);
    return true;
  } catch (error) {
    if (
      isFirestoreStatus(error, 'ALREADY_EXISTS') ||
      isFirestoreStatus(error, 'FAILED_PRECONDITION')
    )
      return false;
    throw error;
  }
}

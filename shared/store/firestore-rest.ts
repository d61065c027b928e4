// Firestore documents over the REST API, with Google's discovery-based client
// (@googleapis/firestore), for the writes a person waits on: storing a consent (callback) and
// unsubscribing (revoke).
// @google-cloud/firestore costs ~60 ms of CPU on a cold start even with preferRest: it evaluates
// gRPC and protobufjs, then builds protobuf types from a 1 MB JSON on its first call (measured with
// `npm run bench:coldstart`). This client is plain HTTPS+JSON over gaxios and google-auth-library,
// which the code exchange has loaded already. The runs and the tools keep @google-cloud/firestore;
// both write the same documents (shared/store/firestore-values.ts).
// https://cloud.google.com/firestore/docs/reference/rest/v1/projects.databases.documents
import { randomInt } from 'node:crypto';
import type { firestore_v1 } from '@googleapis/firestore';
import { FIRESTORE_ERROR, ServiceError } from '../errors.ts';
import type { Config } from '../settings/config.ts';
import { loadAuthLibrary, staticTokenAuthClient } from '../oauth/google-client.ts';
import type { Fields } from './firestore-values.ts';

export type Write = firestore_v1.Schema$Write;

/** Did Firestore's REST API answer this canonical status (ALREADY_EXISTS, ABORTED…)? */
export function isFirestoreStatus(error: unknown, status: string): boolean {
  return error instanceof ServiceError && error.code === FIRESTORE_ERROR && error.status === status;
}

function firestoreError(status: string, httpStatus: number | undefined): ServiceError {
  const answered = `Firestore answered ${status}${httpStatus === undefined ? '' : ` (${httpStatus})`}`;
  return new ServiceError(FIRESTORE_ERROR, answered, {
    status,
    ...(httpStatus === undefined ? {} : { httpStatus }),
  });
}

export interface StoredDocument {
  readonly fields: Fields;
  /** RFC 3339, as Firestore answered it: the document's version for a precondition. */
  readonly updateTime: string;
}

export interface FirestoreDocuments {
  /** The full resource name of a document, from its path (`connections/<sub>`). */
  name(path: string): string;
  /** Reads a document; undefined when it does not exist. */
  get(path: string): Promise<StoredDocument | undefined>;
  /** Applies the writes atomically; the update time of each write, in order. */
  commit(writes: Write[]): Promise<readonly string[]>;
}

export type FirestoreRestSettings = Pick<
  Config,
  'projectId' | 'firestoreDatabase' | 'firestoreEmulatorHost'
>;

const DATASTORE_SCOPE = 'https://www.googleapis.com/auth/datastore';

export async function createFirestoreDocuments(
  settings: FirestoreRestSettings,
): Promise<FirestoreDocuments> {
  const [{ firestore }, auth] = await Promise.all([
    import('@googleapis/firestore'),
    // The emulator ignores the token but the client sends one: a static "owner" token, as the
    // emulator's documentation does. In production, the service account's Application Default
    // Credentials (the metadata server on Cloud Run).
    settings.firestoreEmulatorHost === undefined
      ? loadAuthLibrary().then(({ GoogleAuth }) => new GoogleAuth({ scopes: [DATASTORE_SCOPE] }))
      : staticTokenAuthClient('owner'),
  ]);
  const api = firestore({
    version: 'v1',
    auth,
    ...(settings.firestoreEmulatorHost === undefined
      ? {}
      : { rootUrl: `http://${settings.firestoreEmulatorHost}/` }),
  });
  const documents = api.projects.databases.documents;
  const database = `projects/${settings.projectId}/databases/${settings.firestoreDatabase}`;

  return {
    name: (path) => `${database}/documents/${path}`,
    async get(path) {
      try {
        const { data } = await documents.get({ name: `${database}/documents/${path}` });
        return { fields: data.fields ?? {}, updateTime: data.updateTime ?? '' };
      } catch (error) {
        const failure = restError(error);
        if (failure.status === 'NOT_FOUND') return undefined;
        throw failure;
      }
    },
    async commit(writes) {
      const { data } = await documents.commit({ database, requestBody: { writes } }).catch(rethrow);
      return (data.writeResults ?? []).map((result) => result.updateTime ?? '');
    },
  };
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A random document id, as the client libraries' `collection.doc()` makes: 20 of 62 characters. */
export function newDocumentId(): string {
  let id = '';
  for (let index = 0; index < 20; index += 1) id += ID_ALPHABET[randomInt(ID_ALPHABET.length)];
  return id;
}

/** Google's JSON error body: `{ error: { code, message, status } }`; status is the gRPC name. */
function restError(error: unknown): ServiceError {
  const response = (error as { response?: { status?: unknown; data?: unknown } }).response;
  const body = response?.data as { error?: { status?: unknown } } | undefined;
  const httpStatus = typeof response?.status === 'number' ? response.status : undefined;
  const status =
    typeof body?.error?.status === 'string'
      ? body.error.status
      : httpStatus === 404
        ? 'NOT_FOUND'
        : 'UNAVAILABLE';
  return firestoreError(status, httpStatus);
}

function rethrow(error: unknown): never {
  throw restError(error);
}

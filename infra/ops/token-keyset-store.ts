// Where rotate-keys reads the token keyset and stores a changed one, the same way it was stored:
// a local keyset file (TOKEN_KEYSET_FILE), or a project's Secret Manager secret, whose newest
// enabled version is the one `npm run deploy` pins and to which a changed keyset is added as a new
// version. A keyset wrapped by Cloud KMS is unwrapped for the change and wrapped again under the
// same KMS key and purpose (shared/crypto/wrapped-keyset.ts). Messages never hold key material.
import { readFile, writeFile } from 'node:fs/promises';
import { parseKeyset } from '../../shared/crypto/keyset.ts';
import { unwrapKeyset, wrapKeyset, wrappedKeyset } from '../../shared/crypto/wrapped-keyset.ts';
import { kmsKeyWrapper } from '../../shared/secrets/kms.ts';
import type { SecretVersions } from '../../shared/secrets/secret-versions.ts';
import { SECRETS } from '../deploy/resources.ts';

const TOKEN_SECRET = SECRETS.tokenKeyset.name;

export interface StoredTokenKeyset {
  /** For messages: the file, or the secret and version. */
  readonly where: string;
  /** The plain keyset JSON (key material: never printed). */
  readonly json: string;
  /** The Cloud KMS key it is wrapped with, when wrapped. */
  readonly kmsKey: string | undefined;
  /** Stores `next` the same way; says where it went (a project: the new version's number). */
  save(next: string): Promise<{ readonly where: string; readonly version?: number }>;
}

async function opened(stored: string, kmsEndpoint: string | undefined) {
  const wrapped = wrappedKeyset(stored);
  if (wrapped === undefined) return { json: stored, rewrap: (next: string) => next };
  const kms = await kmsKeyWrapper(kmsEndpoint);
  return {
    json: await unwrapKeyset(kms, wrapped),
    kmsKey: wrapped.kmsKey,
    rewrap: (next: string) => wrapKeyset(kms, { keysetJson: next, kmsKey: wrapped.kmsKey }),
  };
}

export async function fileTokenKeyset(
  path: string,
  kmsEndpoint: string | undefined,
): Promise<StoredTokenKeyset> {
  const { json, kmsKey, rewrap } = await opened(await readFile(path, 'utf8'), kmsEndpoint);
  return {
    where: path,
    json,
    kmsKey,
    async save(next) {
      await writeFile(path, await rewrap(next), { mode: 0o600 });
      return { where: path };
    },
  };
}

export interface ProjectTokenKeyset extends StoredTokenKeyset {
  /** The version read: the newest enabled one. */
  readonly version: number;
  /** The other enabled versions, older: each still holds every key it held. */
  readonly older: readonly number[];
}

export async function projectTokenKeyset(
  project: string,
  secrets: SecretVersions,
  kmsEndpoint: string | undefined,
): Promise<ProjectTokenKeyset> {
  const enabled = await secrets.enabled(TOKEN_SECRET);
  const version = enabled.at(-1);
  if (version === undefined)
    throw new Error(
      `secret ${TOKEN_SECRET} of project ${project} has no enabled version: npm run deploy creates it`,
    );
  const where = `version ${version} of secret ${TOKEN_SECRET}`;
  const { json, kmsKey, rewrap } = await opened(
    await secrets.access(TOKEN_SECRET, version),
    kmsEndpoint,
  );
  const purpose = parseKeyset(json).purpose;
  if (purpose === null)
    throw new Error(
      `${where} holds a master keyset (one keyset for every purpose): npm run deploy splits it into per-purpose keysets first`,
    );
  if (purpose !== 'token')
    throw new Error(`${where} holds a ${purpose} keyset, not the token keyset`);
  return {
    where,
    version,
    older: enabled.slice(0, -1),
    json,
    kmsKey,
    async save(next) {
      const added = await secrets.add(TOKEN_SECRET, await rewrap(next));
      return { where: `version ${added} of secret ${TOKEN_SECRET}`, version: added };
    },
  };
}

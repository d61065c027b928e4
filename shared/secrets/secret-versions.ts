// A secret's versions over Secret Manager's REST API, for the operator tools that change a keyset
// (infra/ops/rotate-keys.ts): the enabled versions, what one holds, and adding one.
//   GET  v1/projects/P/secrets/S/versions          https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets.versions/list
//   GET  v1/projects/P/secrets/S/versions/N:access https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets.versions/access
//   POST v1/projects/P/secrets/S:addVersion        https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets/addVersion
// Payloads travel with their CRC-32C both ways (Google's data-integrity guidelines,
// https://cloud.google.com/secret-manager/docs/data-integrity). The functions never load this:
// they read their pinned version through --set-secrets (shared/secrets/secret-store.ts).
import { crc32c } from '../crypto/crc32c.ts';
import { AppError } from '../errors.ts';
import { googleRestClient } from './google-rest.ts';

const SECRET_MANAGER_ROOT = 'https://secretmanager.googleapis.com/';

export interface SecretVersions {
  /**
   * The ENABLED versions' numbers, ascending; the last is the one `npm run deploy` pins
   * (infra/deploy/state.ts newestEnabled).
   */
  enabled(secret: string): Promise<number[]>;
  access(secret: string, version: number): Promise<string>;
  /** Adds an enabled version holding `value`; resolves to its number. */
  add(secret: string, value: string): Promise<number>;
}

interface VersionJson {
  readonly name?: string;
  readonly state?: string;
}

/** `endpoint` replaces Google's address (SECRET_MANAGER_ENDPOINT, a local server in the tests). */
export async function secretVersions(
  project: string,
  endpoint: string | undefined,
): Promise<SecretVersions> {
  const call = await googleRestClient(SECRET_MANAGER_ROOT, endpoint);
  const parent = (secret: string) => `v1/projects/${project}/secrets/${secret}`;
  return {
    async enabled(secret) {
      const numbers: number[] = [];
      let pageToken: string | undefined;
      do {
        const page = await call<{ versions?: VersionJson[]; nextPageToken?: string }>({
          method: 'GET',
          path: `${parent(secret)}/versions`,
          params: pageToken === undefined ? {} : { pageToken },
          what: `Secret Manager list of ${secret}'s versions`,
        });
        for (const version of page.versions ?? []) {
          const number = versionNumber(version.name);
          if (version.state === 'ENABLED' && number !== undefined) numbers.push(number);
        }
        pageToken = page.nextPageToken || undefined;
      } while (pageToken !== undefined);
      return numbers.sort((a, b) => a - b);
    },
    async access(secret, version) {
      const answer = await call<{ payload?: { data?: string; dataCrc32c?: string } }>({
        method: 'GET',
        path: `${parent(secret)}/versions/${version}:access`,
        what: `Secret Manager access of ${secret} version ${version}`,
      });
      const data = answer.payload?.data;
      const bytes = Buffer.from(data ?? '', 'base64');
      const sum = answer.payload?.dataCrc32c;
      if (data === undefined || (sum !== undefined && sum !== String(crc32c(bytes))))
        throw new AppError('secret_unavailable', 500, 'Service misconfigured.', {
          detail: `Secret Manager gave ${secret} version ${version} without a payload or with a wrong CRC-32C`,
        });
      return bytes.toString('utf8');
    },
    async add(secret, value) {
      const bytes = Buffer.from(value, 'utf8');
      const added = await call<VersionJson>({
        method: 'POST',
        path: `${parent(secret)}:addVersion`,
        data: { payload: { data: bytes.toString('base64'), dataCrc32c: String(crc32c(bytes)) } },
        what: `Secret Manager addVersion on ${secret}`,
      });
      const number = versionNumber(added.name);
      if (number === undefined)
        throw new AppError('secret_unavailable', 500, 'Service misconfigured.', {
          detail: `Secret Manager added a version to ${secret} but named it ${JSON.stringify(added.name)}`,
        });
      return number;
    },
  };
}

/** 7 of `projects/123/secrets/S/versions/7` (Google names the project by number). */
function versionNumber(name: string | undefined): number | undefined {
  const match = /\/versions\/(\d+)$/.exec(name ?? '');
  return match ? Number(match[1]) : undefined;
}

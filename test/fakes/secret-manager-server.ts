// A local Secret Manager speaking its REST API (https://cloud.google.com/secret-manager/docs/reference/rest),
// which is also what @google-cloud/secret-manager sends when pointed at an http endpoint with
// `fallback: true`, as observed from the real client:
//   GET  /v1/projects/P/secrets/S/versions/V:access?$alt=json;enum-encoding=int
//        Authorization: Bearer …, x-goog-request-params: name=…
//   → 200 {"name": …, "payload": {"data": "<base64>", "dataCrc32c": "<decimal>"}}
//   GET  /v1/projects/P/secrets/S/versions[?pageSize=N&pageToken=T]
//   → 200 {"versions": [{"name", "state", "createTime"}, …] newest first, "nextPageToken", "totalSize"}
//   POST /v1/projects/P/secrets/S:addVersion {"payload": {"data": "<base64>", "dataCrc32c": "<decimal>"}}
//   → 200 {"name": "projects/P/secrets/S/versions/N+1", "state": "ENABLED", …}
// V is a number or `latest` (the newest version). A disabled version cannot be accessed
// (400 FAILED_PRECONDITION); a wrong dataCrc32c is refused (400 INVALID_ARGUMENT); unknown
// secrets and versions get Google's error JSON (404 NOT_FOUND); a request without a bearer token
// gets 401 UNAUTHENTICATED; adding to a denied secret gets 403 PERMISSION_DENIED. Every request is
// counted and remembered (method, path, query).
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { crc32c } from '../../shared/crypto/crc32c.ts';

export interface SecretManagerRequest {
  readonly method: string;
  readonly path: string;
  readonly query: string;
}

export type VersionState = 'ENABLED' | 'DISABLED' | 'DESTROYED';

export interface StoredVersion {
  readonly number: number;
  readonly state: VersionState;
  readonly value: string;
}

export interface FakeSecretManager {
  /** e.g. http://127.0.0.1:PORT, for SECRET_MANAGER_ENDPOINT. */
  readonly url: string;
  /** Stores a value under a full version name `projects/P/secrets/S/versions/N`, enabled. */
  setVersion(name: string, value: string | Buffer): void;
  /** Enables, disables or destroys a stored version (full version name). */
  setState(name: string, state: VersionState): void;
  /** Every version of `projects/P/secrets/S`, oldest first. */
  versions(secret: string): StoredVersion[];
  /** Refuse addVersion on `projects/P/secrets/S` (the operator lacks secretmanager.versions.add). */
  denyAdd(secret: string, denied?: boolean): void;
  /** Versions per list page (the server decides: default all). */
  setListPageSize(size: number): void;
  /** Access calls per version name (404s included). */
  accessCount(name: string): number;
  readonly requests: readonly SecretManagerRequest[];
  close(): Promise<void>;
}

const ACCESS = /^\/v1\/(projects\/[^/]+\/secrets\/[^/]+)\/versions\/([^/:]+):access$/;
const LIST = /^\/v1\/(projects\/[^/]+\/secrets\/[^/]+)\/versions$/;
const ADD = /^\/v1\/(projects\/[^/]+\/secrets\/[^/:]+):addVersion$/;
const STATE_NUMBERS: Record<VersionState, number> = { ENABLED: 1, DISABLED: 2, DESTROYED: 3 };

interface Version {
  value: Buffer;
  state: VersionState;
  readonly created: string;
}

export async function startFakeSecretManager(): Promise<FakeSecretManager> {
  /** By secret name, then version number. */
  const secrets = new Map<string, Map<number, Version>>();
  const counts = new Map<string, number>();
  const denied = new Set<string>();
  const requests: SecretManagerRequest[] = [];
  let pageSize = Number.MAX_SAFE_INTEGER;

  const versionsOf = (secret: string) => {
    let versions = secrets.get(secret);
    if (!versions) secrets.set(secret, (versions = new Map<number, Version>()));
    return versions;
  };
  const splitName = (name: string): [string, number] => {
    const match = /^(projects\/[^/]+\/secrets\/[^/]+)\/versions\/(\d+)$/.exec(name);
    if (!match?.[1] || !match[2]) throw new Error(`not a version name: ${name}`);
    return [match[1], Number(match[2])];
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://secretmanager.invalid');
      const path = decodeURIComponent(url.pathname);
      requests.push({ method: req.method ?? '', path: url.pathname, query: url.search });
      if (!/^Bearer \S+$/.test(req.headers.authorization ?? ''))
        return googleError(
          res,
          401,
          'UNAUTHENTICATED',
          'Request is missing required authentication credential.',
        );
      // The REST fallback asks for enums as numbers.
      const intEnums = /enum-encoding=int/.test(decodeURIComponent(url.search));
      const describe = (secret: string, number: number, version: Version) => ({
        name: `${secret}/versions/${number}`,
        createTime: version.created,
        state: intEnums ? STATE_NUMBERS[version.state] : version.state,
      });
      const access = ACCESS.exec(path);
      if (req.method === 'GET' && access?.[1] && access[2]) {
        const [, secret, wanted] = access;
        const versions = secrets.get(secret);
        const number =
          wanted === 'latest' ? Math.max(0, ...(versions?.keys() ?? [])) : Number(wanted);
        const name = `${secret}/versions/${wanted}`;
        counts.set(name, (counts.get(name) ?? 0) + 1);
        const version = versions?.get(number);
        if (version === undefined || version.state === 'DESTROYED')
          return googleError(
            res,
            404,
            'NOT_FOUND',
            `Secret Version [${name}] not found or has no versions.`,
          );
        if (version.state === 'DISABLED')
          return googleError(
            res,
            400,
            'FAILED_PRECONDITION',
            `Secret Version [${secret}/versions/${number}] is in DISABLED state.`,
          );
        return json(res, {
          name: `${secret}/versions/${number}`,
          payload: {
            data: version.value.toString('base64'),
            dataCrc32c: String(crc32c(version.value)),
          },
        });
      }
      const list = LIST.exec(path);
      if (req.method === 'GET' && list?.[1]) {
        const secret = list[1];
        const versions = secrets.get(secret);
        if (versions === undefined)
          return googleError(res, 404, 'NOT_FOUND', `Secret [${secret}] not found.`);
        const newestFirst = [...versions].sort(([a], [b]) => b - a);
        const size = Math.min(pageSize, Number(url.searchParams.get('pageSize')) || pageSize);
        const start = Number(url.searchParams.get('pageToken') ?? '0');
        const page = newestFirst.slice(start, start + size);
        const more = start + size < newestFirst.length;
        return json(res, {
          versions: page.map(([number, version]) => describe(secret, number, version)),
          ...(more ? { nextPageToken: String(start + size) } : {}),
          totalSize: newestFirst.length,
        });
      }
      const add = ADD.exec(path);
      if (req.method === 'POST' && add?.[1]) {
        const secret = add[1];
        const versions = secrets.get(secret);
        if (denied.has(secret))
          return googleError(
            res,
            403,
            'PERMISSION_DENIED',
            `Permission 'secretmanager.versions.add' denied for resource '${secret}' (or it may not exist).`,
          );
        if (versions === undefined)
          return googleError(res, 404, 'NOT_FOUND', `Secret [${secret}] not found.`);
        let payload: { data?: unknown; dataCrc32c?: string | number } | undefined;
        try {
          payload = (
            JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as {
              payload?: typeof payload;
            }
          ).payload;
        } catch {
          return googleError(res, 400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.');
        }
        if (typeof payload?.data !== 'string')
          return googleError(res, 400, 'INVALID_ARGUMENT', 'Payload data is required.');
        const value = Buffer.from(payload.data, 'base64');
        if (
          payload.dataCrc32c !== undefined &&
          String(payload.dataCrc32c) !== String(crc32c(value))
        )
          return googleError(res, 400, 'INVALID_ARGUMENT', 'Checksum mismatch.');
        const number = Math.max(0, ...versions.keys()) + 1;
        const version: Version = { value, state: 'ENABLED', created: new Date().toISOString() };
        versions.set(number, version);
        return json(res, {
          ...describe(secret, number, version),
          clientSpecifiedPayloadChecksum: payload.dataCrc32c !== undefined,
        });
      }
      return googleError(res, 404, 'NOT_FOUND', 'The requested URL was not found on this server.');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    setVersion(name, value) {
      const [secret, number] = splitName(name);
      versionsOf(secret).set(number, {
        value: Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8'),
        state: 'ENABLED',
        created: new Date().toISOString(),
      });
    },
    setState(name, state) {
      const [secret, number] = splitName(name);
      const version = secrets.get(secret)?.get(number);
      if (version === undefined) throw new Error(`no version ${name}`);
      version.state = state;
    },
    versions: (secret) =>
      [...(secrets.get(secret) ?? [])]
        .sort(([a], [b]) => a - b)
        .map(([number, { state, value }]) => ({ number, state, value: value.toString('utf8') })),
    denyAdd(secret, deny = true) {
      if (deny) denied.add(secret);
      else denied.delete(secret);
    },
    setListPageSize(size) {
      pageSize = size;
    },
    accessCount: (name) => counts.get(name) ?? 0,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function json(res: ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
  res.end(JSON.stringify(body));
}

function googleError(res: ServerResponse, code: number, status: string, message: string): void {
  res.writeHead(code, { 'content-type': 'application/json; charset=UTF-8' });
  res.end(JSON.stringify({ error: { code, message, status } }));
}

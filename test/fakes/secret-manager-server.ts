// A local Secret Manager speaking the REST ("fallback") protocol that @google-cloud/secret-manager
// uses when pointed at an http endpoint with `fallback: true`, as observed from the real client:
//   GET /v1/projects/P/secrets/S/versions/V:access?$alt=json;enum-encoding=int
//   Authorization: Bearer …, x-goog-request-params: name=…
// → 200 {"name": …, "payload": {"data": "<base64>", "dataCrc32c": "<decimal>"}}
// Unknown versions get Google's error JSON (404 NOT_FOUND); a request without a bearer token gets
// 401 UNAUTHENTICATED. Every request is counted and remembered (method, path, query).
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { crc32c } from '../../shared/crypto/crc32c.ts';

export interface SecretManagerRequest {
  readonly method: string;
  readonly path: string;
  readonly query: string;
}

export interface FakeSecretManager {
  /** e.g. http://127.0.0.1:PORT, for SECRET_MANAGER_ENDPOINT. */
  readonly url: string;
  /** Stores a value under a full version name `projects/P/secrets/S/versions/N`. */
  setVersion(name: string, value: string | Buffer): void;
  /** Access calls per version name (404s included). */
  accessCount(name: string): number;
  readonly requests: readonly SecretManagerRequest[];
  close(): Promise<void>;
}

const ACCESS = /^\/v1\/(projects\/[^/]+\/secrets\/[^/]+\/versions\/[^/:]+):access$/;

export async function startFakeSecretManager(): Promise<FakeSecretManager> {
  const versions = new Map<string, Buffer>();
  const counts = new Map<string, number>();
  const requests: SecretManagerRequest[] = [];

  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://secretmanager.invalid');
      requests.push({ method: req.method ?? '', path: url.pathname, query: url.search });
      if (!/^Bearer \S+$/.test(req.headers.authorization ?? ''))
        return googleError(
          res,
          401,
          'UNAUTHENTICATED',
          'Request is missing required authentication credential.',
        );
      const match = ACCESS.exec(decodeURIComponent(url.pathname));
      if (req.method !== 'GET' || !match?.[1])
        return googleError(
          res,
          404,
          'NOT_FOUND',
          'The requested URL was not found on this server.',
        );
      const name = match[1];
      counts.set(name, (counts.get(name) ?? 0) + 1);
      const value = versions.get(name);
      if (value === undefined)
        return googleError(
          res,
          404,
          'NOT_FOUND',
          `Secret Version [${name}] not found or has no versions.`,
        );
      res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
      res.end(
        JSON.stringify({
          name,
          payload: { data: value.toString('base64'), dataCrc32c: String(crc32c(value)) },
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    setVersion(name, value) {
      versions.set(name, Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8'));
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

function googleError(res: ServerResponse, code: number, status: string, message: string): void {
  res.writeHead(code, { 'content-type': 'application/json; charset=UTF-8' });
  res.end(JSON.stringify({ error: { code, message, status } }));
}

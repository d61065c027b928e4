// A local Cloud Functions API answering the v2 list over every region
// (https://cloud.google.com/functions/docs/reference/rest/v2/projects.locations.functions/list):
//   GET /v2/projects/P/locations/-/functions[?pageToken=T]
//   → 200 {"functions": [{"name": "projects/P/locations/R/functions/F", "state", "updateTime",
//          "serviceConfig": {"timeoutSeconds", "environmentVariables",
//                            "secretEnvironmentVariables": [{"key", "projectId", "secret", "version"}]}}],
//          "nextPageToken", "unreachable": [R…]}
// one function per page, so that callers page. What is deployed is set by the test; a request
// without a bearer token gets 401 UNAUTHENTICATED.
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface DeployedFunction {
  readonly name: string;
  readonly region: string;
  readonly state?: string;
  readonly updated: Date;
  readonly timeoutSeconds: number;
  readonly env?: Readonly<Record<string, string>>;
  /** Environment variable → `secret:version`, as `--set-secrets` set them. */
  readonly secrets: Readonly<Record<string, string>>;
}

export interface FakeCloudFunctions {
  /** e.g. http://127.0.0.1:PORT, for CLOUD_FUNCTIONS_ENDPOINT. */
  readonly url: string;
  /** What runs in `project` from now on. */
  deploy(project: string, functions: readonly DeployedFunction[]): void;
  setUnreachable(regions: readonly string[]): void;
  close(): Promise<void>;
}

const LIST = /^\/v2\/projects\/([^/]+)\/locations\/-\/functions$/;

export async function startFakeCloudFunctions(): Promise<FakeCloudFunctions> {
  const deployed = new Map<string, readonly DeployedFunction[]>();
  let unreachable: readonly string[] = [];

  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://cloudfunctions.invalid');
      if (!/^Bearer \S+$/.test(req.headers.authorization ?? ''))
        return googleError(
          res,
          401,
          'UNAUTHENTICATED',
          'Request is missing required authentication credential.',
        );
      const match = LIST.exec(url.pathname);
      if (req.method !== 'GET' || !match?.[1])
        return googleError(
          res,
          404,
          'NOT_FOUND',
          'The requested URL was not found on this server.',
        );
      const project = match[1];
      const all = deployed.get(project) ?? [];
      const start = Number(url.searchParams.get('pageToken') ?? '0');
      const page = all.slice(start, start + 1);
      res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
      res.end(
        JSON.stringify({
          functions: page.map((fn) => ({
            name: `projects/${project}/locations/${fn.region}/functions/${fn.name}`,
            state: fn.state ?? 'ACTIVE',
            updateTime: fn.updated.toISOString(),
            serviceConfig: {
              timeoutSeconds: fn.timeoutSeconds,
              environmentVariables: fn.env ?? {},
              secretEnvironmentVariables: Object.entries(fn.secrets).map(([key, pin]) => {
                const [secret, version] = pin.split(':');
                return { key, projectId: project, secret, version };
              }),
            },
          })),
          ...(start + 1 < all.length ? { nextPageToken: String(start + 1) } : {}),
          ...(unreachable.length > 0 ? { unreachable } : {}),
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    deploy(project, functions) {
      deployed.set(project, functions);
    },
    setUnreachable(regions) {
      unreachable = regions;
    },
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

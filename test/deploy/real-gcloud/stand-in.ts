// A loopback stand-in for the Google APIs behind the deploy's commands, to see what the real
// gcloud sends: which project each request names after gcloud resolved the arguments. It answers
// the few reads gcloud makes before it writes (the project number, IAM policies, the runtimes, API
// states, an upload URL for the function source) and refuses everything else with 404, which
// ends each command at its first write.
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Captured {
  readonly method: string;
  readonly url: string;
  readonly body: string;
}

/** The APIs the deploy's commands call (api_endpoint_overrides property names). */
export const STAND_IN_APIS = [
  'artifactregistry',
  'cloudbuild',
  'cloudfunctions',
  'cloudkms',
  'cloudresourcemanager',
  'cloudscheduler',
  'eventarc',
  'firestore',
  'iam',
  'logging',
  'monitoring',
  'pubsub',
  'run',
  'secretmanager',
  'serviceusage',
  'storage',
] as const;

export class ApiStandIn {
  readonly requests: Captured[] = [];
  private readonly server: Server;
  private readonly projectNumber: string;

  private constructor(projectNumber: string) {
    this.projectNumber = projectNumber;
    this.server = createServer((req, res) => this.handle(req, res));
  }

  static async start(projectNumber: string): Promise<ApiStandIn> {
    const standIn = new ApiStandIn(projectNumber);
    await new Promise<void>((resolve) => standIn.server.listen(0, '127.0.0.1', resolve));
    return standIn;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = req.url ?? '';
      const upload = url.startsWith('/upload');
      this.requests.push({
        method: req.method ?? '',
        url,
        body: upload ? '' : Buffer.concat(chunks).toString('utf8'),
      });
      const answer = this.answer(req.method ?? '', url.split('?')[0] ?? '');
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer.body));
    });
  }

  private answer(method: string, route: string): { status: number; body: unknown } {
    const ok = (body: unknown) => ({ status: 200, body });
    // Cloud Resource Manager: the project, for its number.
    const project = /^\/v[13]\/projects\/([^/:]+)$/.exec(route);
    if (method === 'GET' && project)
      return ok({ projectId: project[1], projectNumber: this.projectNumber, state: 'ACTIVE' });
    // Any IAM policy reads as empty: a binding command then ends at its setIamPolicy, and
    // `functions deploy` goes past its check of the trigger account's roles.
    if (method === 'POST' && route.endsWith(':getIamPolicy'))
      return ok({ bindings: [], etag: 'BwY=' });
    // Cloud Functions: the runtimes of a region, an upload URL, then the upload itself.
    if (method === 'GET' && route.endsWith('/runtimes'))
      return ok({ runtimes: [{ name: 'nodejs24', stage: 'GA', environment: 'GEN_2' }] });
    if (method === 'POST' && route.endsWith('/functions:generateUploadUrl'))
      return ok({
        uploadUrl: `${this.url}upload`,
        storageSource: { bucket: 'stand-in', object: 'source.zip' },
      });
    if (method === 'PUT' && route === '/upload') return ok({});
    // Cloud Build: the default build account, one that is not the Compute Engine default, so
    // that gcloud skips its role check of it.
    if (method === 'GET' && route.endsWith('/defaultServiceAccount'))
      return ok({
        serviceAccountEmail: 'projects/-/serviceAccounts/builder@stand-in.iam.gserviceaccount.com',
      });
    // Service Usage: whether an API is enabled (gcloud functions deploy checks a few).
    if (method === 'GET' && /^\/v1\/projects\/[^/]+\/services\/[a-z.]+$/.test(route))
      return ok({ state: 'ENABLED' });
    return {
      status: 404,
      body: { error: { code: 404, message: 'stand-in: not found', status: 'NOT_FOUND' } },
    };
  }
}

// One run function (dispatcher or worker) in its own process for `npm run bench:run`, served by
// the real functions-framework on PORT, with Firestore calls counted. The parent asks for
// figures over IPC: peak RSS, Firestore reads and writes, secret-store backend reads.
import { cloudEvent, type CloudEvent } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import type { Firestore } from '@google-cloud/firestore';
import { googleServices } from '../../shared/google-services.ts';
import { createRunDeps } from '../../shared/runs/deps.ts';
import { dispatcherHandler, workerHandler } from '../../shared/runs/handlers.ts';
import { runtimeFromEnvironment } from '../../shared/runtime.ts';

const role = process.argv[2] === 'dispatcher' ? 'dispatcher' : 'worker';
const runtime = runtimeFromEnvironment(
  process.env,
  { clientSecret: true, tokenKeyset: true },
  googleServices,
);
const counts = { reads: 0, writes: 0 };
const deps = createRunDeps(runtime).then((built) => {
  instrument(built.db);
  return built;
});
const handler = role === 'dispatcher' ? dispatcherHandler(() => deps) : workerHandler(() => deps);
cloudEvent(role, async (event: CloudEvent<unknown>) => {
  await handler(event);
});
const server = getTestServer(role);
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.send?.({ ready: true }));
process.on('message', (message) => {
  if (message === 'stats')
    process.send?.({
      maxRssKb: process.resourceUsage().maxRSS,
      ...counts,
      secretReads: runtime.secrets.backendReads,
    });
});

/** Counts document reads and writes as billed: per document in commits, gets and query results. */
function instrument(db: Firestore): void {
  const target = db as unknown as {
    request: (
      method: string,
      request: Record<string, unknown>,
      ...rest: unknown[]
    ) => Promise<unknown>;
    requestStream: (
      method: string,
      bidi: unknown,
      request: Record<string, unknown>,
      ...rest: unknown[]
    ) => Promise<NodeJS.ReadableStream>;
  };
  const request = target.request.bind(db);
  const requestStream = target.requestStream.bind(db);
  target.request = async (method, body, ...rest) => {
    const result = await request(method, body, ...rest);
    if (method === 'commit') counts.writes += (body.writes as unknown[] | undefined)?.length ?? 0;
    return result;
  };
  target.requestStream = async (method, bidi, body, ...rest) => {
    const stream = await requestStream(method, bidi, body, ...rest);
    if (method === 'batchGetDocuments' || method === 'runQuery')
      stream.on('data', (chunk: { found?: unknown; missing?: unknown; document?: unknown }) => {
        if (chunk.found || chunk.missing || chunk.document) counts.reads += 1;
      });
    return stream;
  };
}

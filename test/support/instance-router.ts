// Cloud Run's front end for several instances of one service, for tests and benchmarks: one URL
// (the push subscription's endpoint) in front of W processes, each request sent to the instance
// with the fewest requests in flight, never more than `concurrency` at once to one instance;
// the others wait here, as in Cloud Run's pending queue
// (https://cloud.google.com/run/docs/about-concurrency). An instance that dies fails only the
// requests it had (503, as the front end answers); while it is replaced, requests go to the
// instances that are up, or wait when none is, as Cloud Run holds requests while it starts one.
// It counts requests per instance, so a run can show how evenly work spread.
import {
  createServer,
  request,
  type IncomingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

export interface InstanceRouter {
  readonly url: string;
  /** Requests each instance was given, in the order of `instances`. */
  served(): number[];
  close(): Promise<void>;
}

interface Pending {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly outgoing: ServerResponse;
}

/** How long a request for an instance not up yet waits before it is tried again. */
const NOT_UP_RETRY_MS = 100;

export async function startInstanceRouter(
  instances: readonly string[],
  options: { readonly concurrency?: number } = {},
): Promise<InstanceRouter> {
  const inFlight = instances.map(() => 0);
  const served = instances.map(() => 0);
  const concurrency = options.concurrency ?? Number.POSITIVE_INFINITY;
  const pending: Pending[] = [];
  let closed = false;
  // An instance that refused a connection is not up: requests go to the instances that are, and
  // it is tried again (with one request) after NOT_UP_RETRY_MS.
  const down = instances.map(() => false);
  const next = () => {
    while (pending.length > 0) {
      let chosen: number | undefined;
      for (let index = 0; index < instances.length; index += 1)
        if (!down[index] && (chosen === undefined || inFlight[index]! < inFlight[chosen]!))
          chosen = index;
      if (chosen === undefined || inFlight[chosen]! >= concurrency) return;
      forward(chosen, pending.shift()!);
    }
  };
  const forward = (chosen: number, item: Pending) => {
    inFlight[chosen]! += 1;
    served[chosen]! += 1;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      inFlight[chosen]! -= 1;
      next();
    };
    const target = new URL(item.url, instances[chosen]);
    const forwarded = request(target, { method: item.method, headers: item.headers }, (answer) => {
      item.outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(item.outgoing);
      answer.on('end', finish);
      answer.on('error', () => {
        finish();
        item.outgoing.destroy();
      });
    });
    forwarded.on('error', (error: NodeJS.ErrnoException) => {
      finish();
      if (error.code === 'ECONNREFUSED' && !closed) {
        served[chosen]! -= 1;
        pending.unshift(item);
        if (!down[chosen]) {
          down[chosen] = true;
          setTimeout(() => {
            down[chosen] = false;
            next();
          }, NOT_UP_RETRY_MS).unref();
        }
        next();
      } else if (!item.outgoing.headersSent) item.outgoing.writeHead(503).end();
      else item.outgoing.destroy();
    });
    forwarded.end(item.body);
  };
  const server: Server = createServer((incoming, outgoing) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      pending.push({
        method: incoming.method ?? 'POST',
        url: incoming.url ?? '/',
        headers: incoming.headers,
        body: Buffer.concat(chunks),
        outgoing,
      });
      next();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    served: () => [...served],
    close: () =>
      new Promise<void>((resolve) => {
        closed = true;
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

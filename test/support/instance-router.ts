// Cloud Run's front end for several instances of one service, for tests and benchmarks: one URL
// (the push subscription's endpoint) in front of W processes, each request sent to the instance
// with the fewest requests in flight, never more than `concurrency` at once to one instance;
// the others wait here, as in Cloud Run's pending queue
// (https://cloud.google.com/run/docs/about-concurrency). So an instance that dies fails only the
// requests it had. Bodies and answers are streamed through unchanged; it counts requests per
// instance, so a run can show how evenly work spread.
import {
  createServer,
  request,
  type IncomingMessage,
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

export async function startInstanceRouter(
  instances: readonly string[],
  options: { readonly concurrency?: number } = {},
): Promise<InstanceRouter> {
  const inFlight = instances.map(() => 0);
  const served = instances.map(() => 0);
  const concurrency = options.concurrency ?? Number.POSITIVE_INFINITY;
  const pending: [IncomingMessage, ServerResponse][] = [];
  const next = () => {
    while (pending.length > 0) {
      let chosen = 0;
      for (let index = 1; index < instances.length; index += 1)
        if (inFlight[index]! < inFlight[chosen]!) chosen = index;
      if (inFlight[chosen]! >= concurrency) return;
      const [incoming, outgoing] = pending.shift()!;
      forward(chosen, incoming, outgoing);
    }
  };
  const forward = (chosen: number, incoming: IncomingMessage, outgoing: ServerResponse) => {
    inFlight[chosen]! += 1;
    served[chosen]! += 1;
    const target = new URL(incoming.url ?? '/', instances[chosen]);
    let done = false;
    const finish = () => {
      if (!done) {
        inFlight[chosen]! -= 1;
        done = true;
        next();
      }
    };
    const forwarded = request(
      target,
      { method: incoming.method, headers: incoming.headers },
      (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
        answer.on('end', finish);
      },
    );
    // An instance that died answers nothing: Cloud Run's front end answers 503 and Pub/Sub
    // redelivers.
    forwarded.on('error', () => {
      finish();
      if (!outgoing.headersSent) outgoing.writeHead(503).end();
      else outgoing.destroy();
    });
    outgoing.on('close', finish);
    incoming.pipe(forwarded);
  };
  const server: Server = createServer((incoming, outgoing) => {
    pending.push([incoming, outgoing]);
    next();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    served: () => [...served],
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

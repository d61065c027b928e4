// Preloaded (node --import) into every function process of the local stack: a server that
// listens on a port without naming a host (functions-framework's does: it has no host option)
// listens on 127.0.0.1 only. On a laptop the worker and the dispatcher take unauthenticated
// events, so nothing on the LAN may reach them. Deployed functions are unaffected: Cloud Run
// fronts them.
import { Server } from 'node:net';

const prototype = Server.prototype as unknown as { listen: (...args: unknown[]) => Server };
const listen = prototype.listen;
prototype.listen = function (this: Server, ...args: unknown[]) {
  const [port, next] = args;
  if (typeof port === 'number' && (next === undefined || typeof next === 'function'))
    args.splice(1, 0, '127.0.0.1');
  return listen.apply(this, args);
};

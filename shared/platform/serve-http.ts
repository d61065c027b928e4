// The public HTTP functions answer every request with their own listener (./http-adapter.ts), not
// through functions-framework's Express app. That app starts with body-parser's json, text,
// urlencoded and raw parsers, limit 1024mb, for every content type and method, and offers no way
// to skip them (functions-framework 5, build/src/server.js): any body is read into memory and
// parsed before a function runs, and what it cannot parse (or a bad percent-encoding in the path)
// is answered by Express, its page, its headers and a stack trace with the raw body on stderr.
// functions-framework still loads the function, listens on the port and handles signals; only the
// server's request listener is ours. Node publishes each request on the diagnostics channel
// `http.server.request.start` just before the server's `request` event
// (https://nodejs.org/api/diagnostics_channel.html#http), so the first request of the instance is
// already ours. docs/security.md#request-bodies.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { RequestListener, Server } from 'node:http';
import { http } from '@google-cloud/functions-framework';
import type { Logger } from '../log.ts';
import { REQUEST_BODIES, type PublicFunction } from '../web/bodies.ts';
import { json, type Handler } from '../web/http.ts';
import { requestListener, sendHttpResponse } from './http-adapter.ts';

const REQUEST_START = 'http.server.request.start';

/** Makes `server` answer every request with `listener`, in place of the app it was made with. */
export function takeOverServer(server: Server, listener: RequestListener): void {
  // `checkContinue` too: with a listener of its own, Node leaves `Expect: 100-continue` to us.
  server.removeAllListeners('request').removeAllListeners('checkContinue');
  server.on('request', listener).on('checkContinue', listener);
}

/**
 * The deployed entry of a public function: registered with functions-framework under `name` (it
 * loads and serves the function by that name), answered by its own listener under its body rules.
 * The instance's one HTTP server is taken over on its first request.
 */
export function serveHttpFunction(name: PublicFunction, handler: Handler, log: Logger): void {
  const listener = requestListener(handler, REQUEST_BODIES[name], log);
  const takeOver = (message: unknown) => {
    unsubscribe(REQUEST_START, takeOver);
    takeOverServer((message as { server: Server }).server, listener);
  };
  subscribe(REQUEST_START, takeOver);
  // Never reached while the listener is in place; if it were, the body was already read unbounded.
  http(name, (req, res) => {
    log.error('a request reached the functions-framework app, not the function listener', {
      function: name,
    });
    sendHttpResponse(res, json(500, { error: 'internal' }), req.method);
  });
}

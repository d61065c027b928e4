// Translates Node's HTTP requests to the neutral HttpRequest and back: the request listener of the
// public functions (installed on functions-framework's server by ./serve-http.ts). The only code
// that knows Node's request and response objects; the flows never see them.
import type {
  IncomingHttpHeaders,
  IncomingMessage,
  RequestListener,
  ServerResponse,
} from 'node:http';
import { AppError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { BodyPolicy } from '../web/bodies.ts';
import {
  SECURITY_HEADERS,
  json,
  parseCookies,
  type Handler,
  type HttpRequest,
  type HttpResponse,
  type Refusal,
} from '../web/http.ts';
import { closeAfterAnswer, readRequestBody, type ReadBody } from './request-body.ts';

/** The request line and headers, as Node parsed them. */
export interface RequestHead {
  readonly method: string;
  /** The request target: path and query. */
  readonly target: string;
  readonly headers: IncomingHttpHeaders;
}

/**
 * Paths functions-framework never hands to an HTTP function (browsers ask every origin for them);
 * answered 404 here as it does, so a favicon request never starts a consent.
 */
const NOT_FOR_FUNCTIONS: ReadonlySet<string> = new Set(['/favicon.ico', '/robots.txt']);

export function toHttpRequest(
  head: RequestHead,
  read: Exclude<ReadBody, { kind: 'gone' }>,
): HttpRequest {
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(head.headers))
    headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  // The path the function sees, whatever prefix the platform routed it under. Appended to a fixed
  // origin, never resolved against it: a request target such as `//[x` or `//` would otherwise be
  // a protocol-relative URL whose bad host throws (a 500 outside the error mapping). Leading
  // slashes (and backslashes, which URLs treat alike) collapse to one, so no path can read as
  // `//host` (e.g. in a form action).
  const url = new URL(`http://function.invalid${head.target.replace(/^[/\\]*/, '/')}`);
  const body = read.kind === 'accepted' ? read.body : {};
  const refused = read.kind === 'refused' ? read.refusal : pathRefusal(url.pathname);
  return {
    method: head.method.toUpperCase(),
    url,
    headers,
    cookies: parseCookies(headers.cookie),
    form: body.form,
    json: body.json,
    ...(body.text === undefined ? {} : { text: body.text }),
    ...(refused === undefined ? {} : { refused }),
  };
}

/**
 * A path must be valid percent-encoded UTF-8 (RFC 3986 §2.1); Express refused others before, with
 * its own page. The query is the flows' to judge, parameter by parameter.
 */
function pathRefusal(pathname: string): Refusal | undefined {
  try {
    decodeURIComponent(pathname);
    return undefined;
  } catch {
    return { error: new AppError('bad_request', 400, 'This address is not valid.'), log: {} };
  }
}

export function sendHttpResponse(
  res: ServerResponse,
  response: HttpResponse,
  method: string,
): void {
  res.statusCode = response.status;
  for (const [name, value] of Object.entries(response.headers)) res.setHeader(name, value);
  if (method === 'HEAD') res.end();
  else res.end(response.body);
}

/**
 * Every request of a public function: its body read under `bodies` (or refused unread), then the
 * flow's handler, whose withErrorHandling answers every error, a refused body's included.
 */
export function requestListener(handle: Handler, bodies: BodyPolicy, log: Logger): RequestListener {
  const answer = async (req: IncomingMessage, res: ServerResponse) => {
    const head = { method: req.method ?? 'GET', target: req.url ?? '/', headers: req.headers };
    const rule = Object.hasOwn(bodies, head.method) ? bodies[head.method] : undefined;
    const read = await readRequestBody(req, res, rule);
    if (read.kind === 'gone') return;
    const request = toHttpRequest(head, read);
    const response = NOT_FOR_FUNCTIONS.has(request.url.pathname)
      ? { status: 404, headers: { ...SECURITY_HEADERS }, body: '' }
      : await handle(request);
    if (request.refused !== undefined) closeAfterAnswer(req, res);
    sendHttpResponse(res, response, request.method);
  };
  return (req, res) => {
    answer(req, res).catch((error: unknown) => {
      // Handlers map their own errors; this is the adapter failing. A bare 500, never a trace.
      log.error('unhandled error in the request listener', { error });
      if (res.headersSent) res.destroy();
      else sendHttpResponse(res, json(500, { error: 'internal' }, { connection: 'close' }), 'GET');
    });
  };
}

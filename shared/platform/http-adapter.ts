// Translates functions-framework (Express) requests to the neutral HttpRequest and back. The only
// code that knows about Express; the flows never see it.
import type { Request, Response } from '@google-cloud/functions-framework';
import { parseCookies, type HttpRequest, type HttpResponse } from '../web/http.ts';

/** Bodies above this are refused before parsing (an unsubscribe form or {"sub"} is tiny). */
const MAX_BODY_BYTES = 64 * 1024;

export function toHttpRequest(req: Request): HttpRequest {
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(req.headers))
    headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  // The path the function sees, whatever prefix the platform routed it under. Appended to a fixed
  // origin, never resolved against it: a request target such as `//[x` or `//` would otherwise be
  // a protocol-relative URL whose bad host throws (a 500 outside the error mapping). Leading
  // slashes (and backslashes, which URLs treat alike) collapse to one, so no path can read as
  // `//host` (e.g. in a form action).
  const target = (req.originalUrl || req.url || '/').replace(/^[/\\]*/, '/');
  const url = new URL(`http://function.invalid${target}`);
  const raw = (req as Request & { rawBody?: Buffer }).rawBody;
  const type = (headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  let form: URLSearchParams | undefined;
  let json: Record<string, unknown> | undefined;
  let text: string | undefined;
  if (raw !== undefined && raw.length <= MAX_BODY_BYTES) {
    if (type !== 'application/x-www-form-urlencoded' && type !== 'application/json')
      text = raw.toString('utf8');
    if (type === 'application/x-www-form-urlencoded')
      form = new URLSearchParams(raw.toString('utf8'));
    if (type === 'application/json') {
      try {
        const parsed: unknown = JSON.parse(raw.toString('utf8'));
        if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
          json = parsed as Record<string, unknown>;
      } catch {
        json = undefined;
      }
    }
  }
  return {
    method: req.method.toUpperCase(),
    url,
    headers,
    cookies: parseCookies(headers.cookie),
    form,
    json,
    ...(text === undefined ? {} : { text }),
  };
}

export function sendHttpResponse(res: Response, response: HttpResponse, method: string): void {
  res.status(response.status);
  for (const [name, value] of Object.entries(response.headers)) res.setHeader(name, value);
  if (method === 'HEAD') res.end();
  else res.end(response.body);
}

export function expressHandler(
  handle: (request: HttpRequest) => Promise<HttpResponse>,
): (req: Request, res: Response) => Promise<void> {
  return async (req, res) => {
    const request = toHttpRequest(req);
    sendHttpResponse(res, await handle(request), request.method);
  };
}

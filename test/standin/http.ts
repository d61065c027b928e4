// Request context and reply helpers. Handlers return a Reply; server.ts is the one place that
// writes replies to the socket and turns unexpected exceptions into a bare 500.
import type { IncomingHttpHeaders } from 'node:http';

export interface RequestContext {
  method: string;
  url: URL;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** Filled by handlers for the request log (never secret values). */
  meta: { grantType?: string; dpopBound?: boolean };
}

export interface Reply {
  status: number;
  headers: Record<string, string>;
  body: string | Buffer;
}

export function jsonReply(
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): Reply {
  return {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
    body: JSON.stringify(value),
  };
}

const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };

/** OAuth endpoint JSON: never cacheable (RFC 6749 §5.1). */
export function oauthJson(status: number, value: unknown): Reply {
  return jsonReply(status, value, NO_STORE);
}

export function oauthError(
  status: number,
  error: string,
  description?: string,
  extra: Record<string, string> = {},
): Reply {
  const body: Record<string, string> = { error };
  if (description !== undefined) body['error_description'] = description;
  return oauthJson(status, { ...body, ...extra });
}

export function htmlReply(status: number, markup: string): Reply {
  return {
    status,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'x-frame-options': 'DENY',
      'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
    },
    body: markup,
  };
}

export function redirectReply(location: string): Reply {
  return { status: 302, headers: { location, 'cache-control': 'no-store' }, body: '' };
}

export function contentType(ctx: RequestContext): string {
  return (ctx.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** Form body (application/x-www-form-urlencoded); empty for any other content type. */
export function formParams(ctx: RequestContext): URLSearchParams {
  if (contentType(ctx) !== 'application/x-www-form-urlencoded') return new URLSearchParams();
  return new URLSearchParams(ctx.body.toString('utf8'));
}

export function bearerToken(ctx: RequestContext): string | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(ctx.headers.authorization ?? '');
  return match?.[1];
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

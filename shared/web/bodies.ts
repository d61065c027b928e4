// Request bodies: which ones each public function takes, and how an accepted one is parsed. A body
// is judged by its headers before a byte of it is read, read only up to its rule's limit
// (shared/platform/request-body.ts), and parsed only as one of the media types its path takes;
// anything else is refused with a typed error that withErrorHandling answers and logs with the
// body's size, never its content (docs/security.md#request-bodies).
import { AppError, type ErrorCode } from '../errors.ts';
import type { FunctionName } from '../settings/functions.ts';
import type { Refusal } from './http.ts';

const FORM = 'application/x-www-form-urlencoded';
const JSON_BODY = 'application/json';
/** A Security Event Token as Google's Cross-Account Protection pushes it (RFC 8417 §2.3). */
const SECURITY_EVENT_TOKEN = 'application/secevent+jwt';

type MediaType = typeof FORM | typeof JSON_BODY | typeof SECURITY_EVENT_TOKEN;

/** What one method of a function reads: at most `maxBytes`, of one of `types`. */
export interface BodyRule {
  readonly maxBytes: number;
  readonly types: readonly MediaType[];
}

/** A function's rules by method; a method without a rule takes no body at all. */
export type BodyPolicy = Readonly<Record<string, BodyRule | undefined>>;

/**
 * Every body the functions read is small: `{"sub"}`, a job's settings, a connect-link request, the
 * unsubscribe form, a Security Event Token (a few KB). 64 KiB leaves room without letting one
 * request hold memory that matters at concurrency 80.
 */
const API_BODY_BYTES = 64 * 1024;

/** The HTTP functions open to the internet (dispatcher and worker take Pub/Sub pushes only). */
export type PublicFunction = Exclude<FunctionName, 'dispatcher' | 'worker'>;

/** The bodies each public function takes; everything else is refused unread. */
export const REQUEST_BODIES: Readonly<Record<PublicFunction, BodyPolicy>> = {
  authorize: {},
  callback: {},
  // The API (revoke, …/settings, …/connect-links) posts JSON; the unsubscribe page posts a form.
  revoke: { POST: { maxBytes: API_BODY_BYTES, types: [JSON_BODY, FORM] } },
  risc: { POST: { maxBytes: API_BODY_BYTES, types: [SECURITY_EVENT_TOKEN] } },
};

/** Deeper JSON than any body we take; checked before parsing (no recursion on untrusted depth). */
const MAX_JSON_DEPTH = 32;
/** The unsubscribe form has a handful of fields. */
const MAX_FORM_FIELDS = 64;

export type BodyRefusalReason =
  | 'no_body_here'
  | 'too_large'
  | 'media_type'
  | 'content_encoding'
  | 'charset'
  | 'not_utf8'
  | 'json_syntax'
  | 'json_depth'
  | 'form_fields';

const REFUSALS: Record<BodyRefusalReason, readonly [ErrorCode, number, string]> = {
  no_body_here: ['payload_too_large', 413, 'This address takes no request body.'],
  too_large: ['payload_too_large', 413, 'The request body is too large.'],
  media_type: ['unsupported_media_type', 415, 'This address does not read that kind of body.'],
  // RFC 9110 §15.5.16: 415 also for a content coding the server does not take.
  content_encoding: ['unsupported_media_type', 415, 'Send the request body uncompressed.'],
  charset: ['bad_request', 400, 'Send the request body in UTF-8.'],
  not_utf8: ['bad_request', 400, 'The request body is not valid UTF-8.'],
  json_syntax: ['bad_request', 400, 'The request body is not valid JSON.'],
  json_depth: ['bad_request', 400, 'The request body is nested too deeply.'],
  form_fields: ['bad_request', 400, 'The form has too many fields.'],
};

/** What the log line of a refused body says of it: its size and type, never its content. */
export interface BodyFacts {
  /** Bytes held in memory before refusing: at most the limit and one read past it. */
  readonly bytesHeld: number;
  /** Content-Length, when one was sent. */
  readonly declaredBytes: number | undefined;
  /** The media type as sent (type/subtype only), or `none`/`invalid`. */
  readonly mediaType: string;
}

export function refuseBody(reason: BodyRefusalReason, facts: BodyFacts): Refusal {
  const [code, status, message] = REFUSALS[reason];
  return { error: new AppError(code, status, message), log: { requestBody: { reason, ...facts } } };
}

/** The parts of a Content-Type header a rule looks at (RFC 9110 §8.3.1). */
export interface ContentType {
  /** Lower-case type/subtype, `none` without a header, `invalid` if it is not one. */
  readonly mediaType: string;
  readonly charset: string | undefined;
}

const TOKEN = /^[!#$%&'*+.^`|~\w-]+$/;

export function parseContentType(header: string | undefined): ContentType {
  if (header === undefined || header.trim() === '')
    return { mediaType: 'none', charset: undefined };
  const [essence = '', ...parameters] = header.slice(0, 1024).split(';');
  const [type, subtype, extra] = essence.trim().toLowerCase().split('/');
  if (type === undefined || subtype === undefined || extra !== undefined)
    return { mediaType: 'invalid', charset: undefined };
  if (!TOKEN.test(type) || !TOKEN.test(subtype))
    return { mediaType: 'invalid', charset: undefined };
  let charset: string | undefined;
  for (const parameter of parameters) {
    const index = parameter.indexOf('=');
    if (parameter.slice(0, index).trim().toLowerCase() !== 'charset') continue;
    charset = parameter
      .slice(index + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .toLowerCase();
  }
  return { mediaType: `${type}/${subtype}`, charset };
}

/** Refuses on the headers alone (nothing read yet); undefined when the body may be read. */
export function judgeBodyHeaders(
  rule: BodyRule | undefined,
  headers: { contentType: ContentType; contentEncoding: string | undefined },
  declaredBytes: number | undefined,
): BodyRefusalReason | undefined {
  if (rule === undefined) return 'no_body_here';
  const encoding = headers.contentEncoding?.trim().toLowerCase();
  // Compressed bodies are refused, not inflated: a few KB of gzip can expand to gigabytes.
  if (encoding !== undefined && encoding !== '' && encoding !== 'identity')
    return 'content_encoding';
  const { mediaType, charset } = headers.contentType;
  if (!(rule.types as readonly string[]).includes(mediaType)) return 'media_type';
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') return 'charset';
  if (declaredBytes !== undefined && declaredBytes > rule.maxBytes) return 'too_large';
  return undefined;
}

/** What the flows get of an accepted body (shared/web/http.ts HttpRequest). */
export interface ParsedBody {
  readonly form?: URLSearchParams;
  readonly json?: Record<string, unknown>;
  readonly text?: string;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses an accepted body of `mediaType` (one its rule takes), or names why it is refused. */
export function parseBody(bytes: Uint8Array, mediaType: string): ParsedBody | BodyRefusalReason {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return 'not_utf8';
  }
  if (mediaType === FORM) {
    let fields = 1;
    for (let index = text.indexOf('&'); index !== -1; index = text.indexOf('&', index + 1))
      if ((fields += 1) > MAX_FORM_FIELDS) return 'form_fields';
    return { form: new URLSearchParams(text) };
  }
  if (mediaType === JSON_BODY) {
    if (jsonDepth(text) > MAX_JSON_DEPTH) return 'json_depth';
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return 'json_syntax';
    }
    // Only objects are bodies the flows read; anything else is a body without their fields.
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? { json: parsed as Record<string, unknown> }
      : {};
  }
  return { text };
}

/** The deepest nesting of objects and arrays in JSON text, in one pass (strings skipped). */
function jsonDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let index = 0; index < text.length; index += 1) {
    const char = text.charCodeAt(index);
    if (inString) {
      if (char === 0x5c)
        index += 1; // backslash: skip the escaped character
      else if (char === 0x22) inString = false;
    } else if (char === 0x22) inString = true;
    else if (char === 0x7b || char === 0x5b) deepest = Math.max(deepest, (depth += 1));
    else if (char === 0x7d || char === 0x5d) depth -= 1;
  }
  return deepest;
}

// Reads a request body from Node's stream against its rule (shared/web/bodies.ts): judged on its
// headers first, then read chunk by chunk and given up as soon as it passes the limit, whether or
// not it declared a length (chunked bodies have none). Nothing past the limit is ever held in
// memory (docs/security.md#request-bodies).
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import {
  judgeBodyHeaders,
  parseBody,
  parseContentType,
  refuseBody,
  type BodyRefusalReason,
  type BodyRule,
  type ContentType,
  type ParsedBody,
} from '../web/bodies.ts';
import type { Refusal } from '../web/http.ts';

export type ReadBody =
  | { readonly kind: 'accepted'; readonly body: ParsedBody }
  | { readonly kind: 'refused'; readonly refusal: Refusal }
  /** The client went away before the body ended: there is nobody to answer. */
  | { readonly kind: 'gone' };

const NO_BODY: ReadBody = { kind: 'accepted', body: {} };
const GONE: ReadBody = { kind: 'gone' };
const CONTINUE = /^100-continue$/i;
/** How long a refused body's connection stays half-open for the client to read the answer. */
const LINGER_MS = 2000;

type Judged =
  | { readonly kind: 'none' }
  | (Framing & { readonly kind: 'refused'; readonly reason: BodyRefusalReason })
  | (Framing & { readonly kind: 'read'; readonly rule: BodyRule });

interface Framing {
  readonly contentType: ContentType;
  readonly declaredBytes: number | undefined;
}

/** The verdict on the headers alone: no body, refused unread, or to be read under `rule`. */
function judgeHeaders(
  headers: IncomingHttpHeaders,
  rule: BodyRule | undefined,
  hasBody: boolean,
): Judged {
  // Node's parser has already refused malformed or conflicting framing headers with a 400.
  const length = headers['content-length'];
  const declaredBytes = length === undefined ? undefined : Number(length);
  // RFC 9112 §6.3: a body has a length or a transfer coding.
  if (!hasBody && headers['transfer-encoding'] === undefined && !((declaredBytes ?? 0) > 0))
    return { kind: 'none' };
  const contentType = parseContentType(headers['content-type']);
  const reason = judgeBodyHeaders(
    rule,
    { contentType, contentEncoding: headers['content-encoding'] },
    declaredBytes,
  );
  if (reason !== undefined || rule === undefined)
    return { kind: 'refused', reason: reason ?? 'no_body_here', contentType, declaredBytes };
  return { kind: 'read', rule, contentType, declaredBytes };
}

function refused(reason: BodyRefusalReason, framing: Framing, bytesHeld: number): ReadBody {
  return {
    kind: 'refused',
    refusal: refuseBody(reason, {
      bytesHeld,
      declaredBytes: framing.declaredBytes,
      mediaType: framing.contentType.mediaType,
    }),
  };
}

function parsed(bytes: Buffer, framing: Framing): ReadBody {
  const body = parseBody(bytes, framing.contentType.mediaType);
  return typeof body === 'string'
    ? refused(body, framing, bytes.length)
    : { kind: 'accepted', body };
}

export async function readRequestBody(
  req: IncomingMessage,
  res: ServerResponse,
  rule: BodyRule | undefined,
): Promise<ReadBody> {
  const judged = judgeHeaders(req.headers, rule, false);
  if (judged.kind === 'none') return NO_BODY;
  if (judged.kind === 'refused') return refused(judged.reason, judged, 0);
  // The client waits for our go-ahead before sending (RFC 9110 §10.1.1); a body refused above is
  // answered without it, and never sent.
  if (CONTINUE.test(req.headers.expect ?? '')) res.writeContinue();
  const read = await readUpTo(req, judged.rule.maxBytes);
  if (read === 'gone') return GONE;
  return Buffer.isBuffer(read) ? parsed(read, judged) : refused('too_large', judged, read.held);
}

/**
 * Call before answering a refused body: the connection then ends after the answer, the rest of the
 * body unread. Node would close it at once, and closing a socket with unread data resets the
 * connection, often before a client still sending has read the answer. So reading stops (the
 * client's sending stalls on TCP flow control), the answer goes out, our side shuts (FIN), and the
 * socket is destroyed when the client closes or LINGER_MS later (RFC 9112 §9.6, closing in
 * stages). A client waiting for `100 Continue` has sent nothing; Node closes that one itself.
 */
export function closeAfterAnswer(req: IncomingMessage, res: ServerResponse): void {
  if (req.complete || CONTINUE.test(req.headers.expect ?? '')) return;
  // read(0) marks the body as consumed, so Node does not drain it after the answer.
  req.pause();
  req.read(0);
  // An explicit keep-alive keeps Node from closing (and resetting) right after the answer.
  res.setHeader('connection', 'keep-alive');
  res.once('finish', () => {
    const { socket } = req;
    const destroy = setTimeout(() => socket.destroy(), LINGER_MS).unref();
    socket.once('close', () => clearTimeout(destroy));
    socket.end();
  });
}

/** The same verdict on a body already in memory (the property tests drive the flows with it). */
export function judgeBody(
  headers: IncomingHttpHeaders,
  rule: BodyRule | undefined,
  bytes: Buffer | undefined,
): ReadBody {
  const whole = bytes ?? Buffer.alloc(0);
  const judged = judgeHeaders(headers, rule, whole.length > 0);
  if (judged.kind === 'none') return NO_BODY;
  if (judged.kind === 'refused') return refused(judged.reason, judged, 0);
  if (whole.length > judged.rule.maxBytes) return refused('too_large', judged, whole.length);
  return parsed(whole, judged);
}

/** The whole body if it ends within `maxBytes`; else stops at the chunk that passes it. */
function readUpTo(
  req: IncomingMessage,
  maxBytes: number,
): Promise<Buffer | { held: number } | 'gone'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let held = 0;
    const finish = (result: Buffer | { held: number } | 'gone') => {
      req.off('data', onData).off('end', onEnd).off('error', onGone).off('close', onGone);
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      held += chunk.length;
      if (held <= maxBytes) chunks.push(chunk);
      else {
        req.pause();
        finish({ held });
      }
    };
    const onEnd = () => finish(Buffer.concat(chunks, held));
    const onGone = () => finish('gone');
    req.on('data', onData).on('end', onEnd).on('error', onGone).on('close', onGone);
  });
}

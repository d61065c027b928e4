// multipart/related bodies (RFC 2387), as sent by googleapis-common for uploadType=multipart.

export interface BodyPart {
  contentType: string;
  body: Buffer;
}

export function boundaryOf(contentTypeHeader: string): string | null {
  const match = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentTypeHeader);
  return match?.[1] ?? match?.[2] ?? null;
}

export function parseMultipart(body: Buffer, boundary: string): BodyPart[] | null {
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: BodyPart[] = [];
  let pos = body.indexOf(delimiter);
  if (pos < 0) return null;
  for (;;) {
    pos += delimiter.length;
    if (body.subarray(pos, pos + 2).toString() === '--') return parts;
    if (body.subarray(pos, pos + 2).toString() === '\r\n') pos += 2;
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), pos);
    if (next < 0) return null;
    const part = body.subarray(pos, next);
    const split = part.indexOf('\r\n\r\n');
    if (split < 0) return null;
    const headers = part.subarray(0, split).toString('utf8');
    const contentType =
      /^content-type:\s*(.+)$/im.exec(headers)?.[1]?.trim() ?? 'application/octet-stream';
    parts.push({ contentType, body: part.subarray(split + 4) });
    pos = next + 2;
  }
}

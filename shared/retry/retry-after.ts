// The one Retry-After parser (RFC 9110 §10.2.3): delay-seconds or an HTTP date, from a header
// value or from any response's headers (fetch Headers, gaxios' plain object).
// https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3

/** Seconds to wait, or undefined when the value is absent or malformed; a past date is 0. */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (value === null || value === undefined || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  // Only the HTTP-date forms (all start with a day name); Date.parse alone takes "-5" as a year.
  if (!/^[A-Za-z]{3}/.test(trimmed)) return undefined;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - now) / 1000));
}

/**
 * gaxios hands over a Headers object of its own fetch implementation (not `instanceof` the
 * global Headers), so anything with a `get` method is read through it.
 */
export function retryAfterFromHeaders(headers: unknown, now: number): number | undefined {
  if (typeof headers !== 'object' || headers === null) return undefined;
  const get = (headers as { get?: unknown }).get;
  if (typeof get === 'function')
    return parseRetryAfter(
      (get as (name: string) => unknown).call(headers, 'retry-after') as string | null,
      now,
    );
  const value = (headers as Record<string, unknown>)['retry-after'];
  return typeof value === 'string' ? parseRetryAfter(value, now) : undefined;
}

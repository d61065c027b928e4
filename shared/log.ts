// The one logger. It writes one JSON object per line in the shape Cloud Logging parses from
// stdout (`severity`, `message`, other fields as jsonPayload), and it knows what is secret:
// - values under secret-sounding keys are replaced;
// - Secret instances print as a placeholder;
// - strings (keys too) longer than MAX_TEXT are cut first, so a line costs linear time at most;
// - known secret values registered at start-up (client secret, key material) and anything shaped
//   like a Google token, code or JWT are masked inside any string;
// - errors are reduced to name, code and message: gaxios errors carry request and response
//   bodies with tokens (docs/google-behaviours.md#google-auth-library-traps).
// See https://cloud.google.com/logging/docs/structured-logging
import type { LogLevel } from './settings/config.ts';
import { Secret } from './secrets/secret-value.ts';

export type Fields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: Fields): void;
  info(message: string, fields?: Fields): void;
  warn(message: string, fields?: Fields): void;
  error(message: string, fields?: Fields): void;
  child(fields: Fields): Logger;
}

export type LogSink = (line: string) => void;

const ORDER: Record<LogLevel, number> = { DEBUG: 0, INFO: 1, WARNING: 2, ERROR: 3 };
const REDACTED = '[redacted]';

/** Keys whose values are never logged, whatever they hold. */
const SECRET_KEY =
  /(token|secret|password|passwd|authorization|cookie|verifier|authcode|authorizationcode|nonce|^state$|^key$|keymaterial|keyset|credential|assertion|signature|^sig$)/i;

/**
 * Longest string a log line carries, in UTF-16 code units: a longer one is cut before any pattern
 * runs and says how long it was, so what one line costs is bounded whatever a request holds (a
 * path, a parameter, an upstream message, an object's keys).
 */
export const MAX_TEXT = 1024;

/**
 * Google token shapes: access tokens `ya29.`, refresh tokens `1//`, authorization codes `4/0`
 * (also percent-encoded), JWTs (`eyJ…`). Masking them inside free text is the last line of
 * defence. Every match starts at a fixed marker and takes the whole run of token characters
 * after it (base64url, dots, and the `/` and `%` of codes in URLs), with nothing after the run
 * to backtrack for: one pass over the text, linear in its length. (A pattern like
 * `eyJ[\w-]+\.[\w-]+\.` is quadratic: on `eyJeyJeyJ…` every `eyJ` scans the rest of the run
 * for a dot that never comes.) Whether an `eyJ` run is a JWT (two dots, RFC 7519 §3) is decided
 * after the match, in code.
 */
const MARKED_TOKEN = /(?:ya29\.|1\/\/|4\/0|4%2F0)[\w.%/-]+/g;
const TOKEN_PATTERN = new RegExp(`${MARKED_TOKEN.source}|eyJ[\\w.%/-]*`, 'g');

const knownSecrets = new Set<string>();

/** Registers a secret value (e.g. the client secret) so it is masked wherever it appears. */
export function registerSecretValue(value: string): void {
  if (value.length >= 8) knownSecrets.add(value);
}

/**
 * Masks token shapes in `text`, however long it is (no cut here: redactText cuts first).
 * `openEnd`: the text was cut just after it, so an `eyJ` run reaching its end may be a JWT whose
 * dots were cut off.
 */
export function maskTokenShapes(text: string, openEnd = false): string {
  return text.replace(TOKEN_PATTERN, (match: string, offset: number) => {
    if (!match.startsWith('eyJ')) return REDACTED;
    const firstDot = match.indexOf('.');
    const jwt = firstDot !== -1 && match.indexOf('.', firstDot + 1) !== -1;
    if (jwt || (openEnd && offset + match.length === text.length)) return REDACTED;
    return match.replace(MARKED_TOKEN, REDACTED);
  });
}

/**
 * Where a text longer than MAX_TEXT is cut: never inside a surrogate pair, and never inside a
 * registered secret (its first characters would stay in the line): before it instead.
 */
function cutPoint(text: string): number {
  let cut = MAX_TEXT;
  const last = text.charCodeAt(cut - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut -= 1;
  let moved: boolean;
  do {
    moved = false;
    for (const secret of knownSecrets) {
      const from = Math.max(0, cut - secret.length + 1);
      const at = text.slice(from, cut + secret.length - 1).indexOf(secret);
      if (at !== -1 && from + at < cut) {
        cut = from + at;
        moved = true;
      }
    }
  } while (moved);
  return cut;
}

/** `text` cut to MAX_TEXT, with registered secrets and token shapes masked. */
export function redactText(text: string): string {
  const cut = text.length > MAX_TEXT ? cutPoint(text) : text.length;
  let out = text.slice(0, cut);
  // Registered secrets first: a token shape masked inside one would leave the rest of it.
  for (const secret of knownSecrets)
    if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  out = maskTokenShapes(out, cut < text.length);
  return cut < text.length ? `${out}…[cut: ${text.length} characters]` : out;
}

function redactValue(value: unknown, depth: number): unknown {
  if (value instanceof Secret) return REDACTED;
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > 6) return '[too deep]';
  if (value instanceof Error) return describeError(value);
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.slice(0, 50).map((item) => redactValue(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    // A key too long to test whole may hide a secret-sounding name past the cut.
    const secret = key.length > MAX_TEXT || SECRET_KEY.test(key);
    out[redactText(key)] = secret && item !== undefined ? REDACTED : redactValue(item, depth + 1);
  }
  return out;
}

/** Name, code, status and message only: never `config`, `response` or request bodies. */
export function describeError(error: Error): Record<string, unknown> {
  const described: Record<string, unknown> = {
    name: error.name,
    message: redactText(error.message),
  };
  const record = error as unknown as Record<string, unknown>;
  for (const key of ['code', 'status', 'error', 'subtype'] as const) {
    const field = record[key];
    // Strings are masked like any other: `error`/`subtype` come from an upstream response body.
    if (typeof field === 'string') described[key] = redactText(field);
    else if (typeof field === 'number') described[key] = field;
  }
  return described;
}

export function createLogger(
  options: { level?: LogLevel; sink?: LogSink; base?: Fields } = {},
): Logger {
  const level = options.level ?? 'INFO';
  const sink = options.sink ?? ((line: string) => process.stdout.write(`${line}\n`));
  const base = options.base ?? {};

  const write = (severity: LogLevel, message: string, fields: Fields | undefined): void => {
    if (ORDER[severity] < ORDER[level]) return;
    const payload = redactValue({ ...base, ...fields }, 0) as Fields;
    sink(
      JSON.stringify({
        severity,
        message: redactText(message),
        time: new Date().toISOString(),
        ...payload,
      }),
    );
  };

  return {
    debug: (message, fields) => write('DEBUG', message, fields),
    info: (message, fields) => write('INFO', message, fields),
    warn: (message, fields) => write('WARNING', message, fields),
    error: (message, fields) => write('ERROR', message, fields),
    child: (fields) => createLogger({ level, sink, base: { ...base, ...fields } }),
  };
}

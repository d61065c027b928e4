// The one logger. It writes one JSON object per line in the shape Cloud Logging parses from
// stdout (`severity`, `message`, other fields as jsonPayload), and it knows what is secret:
// - values under secret-sounding keys are replaced;
// - Secret instances print as a placeholder;
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
 * Google token shapes: access tokens `ya29.`, refresh tokens `1//`, authorization codes `4/0`,
 * JWTs (`eyJ…`). Masking them inside free text is the last line of defence.
 */
const TOKEN_PATTERN =
  /(ya29\.[\w.-]+|1\/\/[\w.-]+|4\/0[\w.-]+|4%2F0[\w.%-]+|eyJ[\w-]+\.[\w-]+\.[\w-]*)/g;

const knownSecrets = new Set<string>();

/** Registers a secret value (e.g. the client secret) so it is masked wherever it appears. */
export function registerSecretValue(value: string): void {
  if (value.length >= 8) knownSecrets.add(value);
}

export function redactText(text: string): string {
  let out = text.replace(TOKEN_PATTERN, REDACTED);
  for (const secret of knownSecrets)
    if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  return out;
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
    out[key] = SECRET_KEY.test(key) && item !== undefined ? REDACTED : redactValue(item, depth + 1);
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

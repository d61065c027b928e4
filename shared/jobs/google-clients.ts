// The Google API clients a job gets (`context.google`), built for exactly one user: that user's
// access token, the API's own root (a setting, so the stand-in can serve it), no library retries
// (the runner owns backoff and Retry-After: shared/retry/) and a per-call timeout that ends at the
// job's deadline. Every call also gets the root as a per-call option, because googleapis-common
// applies a client-level rootUrl to a method's `url` only, never to its upload `mediaUrl`
// (docs/google-behaviours.md#drive-api): without it, uploads go to www.googleapis.com.
// @googleapis/* modules are imported on first use, so a job that does not call Drive never pays
// for loading it.
import type { OAuth2Client } from 'google-auth-library';
import type { drive_v3 } from '@googleapis/drive';
import type { sheets_v4 } from '@googleapis/sheets';

/** The options every `@googleapis/*` factory takes (the subset we set). */
export interface ClientOptions {
  readonly version: string;
  readonly auth: OAuth2Client;
  readonly rootUrl?: string;
  readonly retry: false;
}

export interface GoogleClients {
  drive(): Promise<drive_v3.Drive>;
  sheets(): Promise<sheets_v4.Sheets>;
  /**
   * Any other `@googleapis/*` module, wired the same way:
   * `await context.google.use('calendar', (o) => calendar({ ...o, version: 'v3' }))`.
   * `api` is the service's short name (`calendar` for calendar-json.googleapis.com's client):
   * GOOGLE_API_ROOTS may point it elsewhere.
   */
  use<T extends object>(api: string, factory: (options: ClientOptions) => T): T;
}

export interface ApiRoots {
  /** One root for every API (the stand-in), ending in '/'; undefined: each library's own. */
  readonly all: string | undefined;
  /** Per-API roots (GOOGLE_API_ROOTS), by short name. */
  readonly byApi: Readonly<Record<string, string>>;
}

export function apiRootFor(roots: ApiRoots, api: string): string | undefined {
  return roots.byApi[api] ?? roots.all;
}

let driveModule: Promise<typeof import('@googleapis/drive')> | undefined;
let sheetsModule: Promise<typeof import('@googleapis/sheets')> | undefined;

export function googleClients(input: {
  readonly auth: OAuth2Client;
  readonly roots: ApiRoots;
  readonly deadline: number;
  readonly signal: AbortSignal;
  readonly now: () => number;
}): GoogleClients {
  const use = <T extends object>(api: string, factory: (options: ClientOptions) => T): T => {
    const rootUrl = apiRootFor(input.roots, api);
    const client = factory({
      version: '',
      auth: input.auth,
      retry: false,
      ...(rootUrl ? { rootUrl } : {}),
    });
    return withCallOptions(client, () => ({
      ...(rootUrl ? { rootUrl } : {}),
      retry: false,
      timeout: Math.max(1, input.deadline - input.now()),
      signal: input.signal,
    }));
  };
  return {
    async drive() {
      driveModule ??= import('@googleapis/drive');
      const { drive } = await driveModule;
      return use('drive', (options) => drive({ ...options, version: 'v3' }));
    },
    async sheets() {
      sheetsModule ??= import('@googleapis/sheets');
      const { sheets } = await sheetsModule;
      return use('sheets', (options) => sheets({ ...options, version: 'v4' }));
    },
    use,
  };
}

/**
 * The client with `defaults()` merged into the per-call options of every method, at any depth
 * (`sheets.spreadsheets.values.get(params, options)`); options a job passes win.
 */
function withCallOptions<T extends object>(client: T, defaults: () => object): T {
  const wrapped = new WeakMap<object, unknown>();
  // The proxies stand in front of empty targets: the clients' resources are read-only,
  // non-configurable properties, which a proxy of the real object must return unchanged.
  const wrap = (real: object): unknown =>
    new Proxy(
      {},
      {
        get(_target, property) {
          const value: unknown = Reflect.get(real, property, real);
          if (property === 'context' || typeof property === 'symbol') return value;
          if (typeof value === 'function')
            return (params: unknown, options?: unknown, ...rest: unknown[]) =>
              (value as (...args: unknown[]) => unknown).call(
                real,
                params ?? {},
                typeof options === 'function'
                  ? defaults()
                  : { ...defaults(), ...(options as object) },
                ...(typeof options === 'function' ? [options, ...rest] : rest),
              );
          if (value !== null && typeof value === 'object') {
            if (!wrapped.has(value)) wrapped.set(value, wrap(value));
            return wrapped.get(value);
          }
          return value;
        },
        has: (_target, property) => Reflect.has(real, property),
      },
    );
  return wrap(client) as T;
}

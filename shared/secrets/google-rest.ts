// One authenticated JSON call to a Google REST API through google-auth-library's `request`, as
// shared/secrets/kms.ts calls Cloud KMS: application-default credentials against Google, a static
// bearer token against a local stand-in (`endpoint`, which the tests serve). A failed call becomes
// an AppError naming the call, the HTTP status and Google's own message; the gaxios error is
// dropped, never kept as a cause: it holds the request, its bearer token and its body (a secret
// version's payload) included, and a printed cause would show them.
import { AppError } from '../errors.ts';
import { loadAuthLibrary, staticTokenAuthClient } from '../oauth/google-client.ts';

/** https://developers.google.com/identity/protocols/oauth2/scopes: what Secret Manager and Cloud Functions ask for. */
const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';

export interface RestCall {
  readonly method: 'GET' | 'POST';
  /** After the root, e.g. `v1/projects/P/secrets/S/versions`. */
  readonly path: string;
  readonly params?: Readonly<Record<string, string>>;
  readonly data?: unknown;
  /** Names the call in an error message, e.g. `Secret Manager addVersion on S`. */
  readonly what: string;
}

export type RestClient = <T>(call: RestCall) => Promise<T>;

interface Requester {
  request<T>(options: {
    url: string;
    method: 'GET' | 'POST';
    params?: Readonly<Record<string, string>>;
    data?: unknown;
    timeout: number;
  }): Promise<{ data: T }>;
}

/** `root` is the API's Google address (https://secretmanager.googleapis.com/); `endpoint` replaces it. */
export async function googleRestClient(
  root: string,
  endpoint: string | undefined,
): Promise<RestClient> {
  const base = endpoint === undefined ? root : `${endpoint.replace(/\/$/, '')}/`;
  const auth: Requester =
    endpoint === undefined
      ? new (await loadAuthLibrary()).GoogleAuth({ scopes: [CLOUD_PLATFORM_SCOPE] })
      : await staticTokenAuthClient('local');
  return async <T>(call: RestCall): Promise<T> => {
    try {
      const response = await auth.request<T>({
        url: `${base}${call.path}`,
        method: call.method,
        ...(call.params ? { params: call.params } : {}),
        ...(call.data === undefined ? {} : { data: call.data }),
        timeout: 30_000,
      });
      return response.data;
    } catch (error) {
      throw new AppError('upstream_unavailable', 502, 'A Google service is unavailable.', {
        detail: `${call.what} failed: ${answerOf(error)}`,
      });
    }
  };
}

/** The HTTP status and Google's error status and message (https://cloud.google.com/apis/design/errors), or why there was no answer. */
function answerOf(error: unknown): string {
  const response = (error as { response?: { status?: number; data?: unknown } }).response;
  if (response?.status === undefined) {
    const code = (error as { code?: unknown }).code;
    return `no answer${typeof code === 'string' ? ` (${code})` : ''}`;
  }
  const body = (response.data as { error?: { status?: unknown; message?: unknown } } | undefined)
    ?.error;
  const status = typeof body?.status === 'string' ? ` ${body.status}` : '';
  const message = typeof body?.message === 'string' ? `: ${body.message}` : '';
  return `HTTP ${response.status}${status}${message}`;
}

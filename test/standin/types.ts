// Shared types of the Google stand-in. Kept apart so that every module can import them without
// pulling in the HTTP server.
import type { StandInApi } from './apis.ts';

export interface ClientRegistration {
  clientId: string;
  clientSecret: string;
  /** Compared by exact string (scheme, case, port and trailing slash all count), like Google. */
  redirectUris: string[];
  /** Consent screen in "Testing" status: refresh tokens die after 7 days. */
  testingMode?: boolean;
}

export interface StandInOptions {
  /** 0 (default) picks a random free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  clients: ClientRegistration[];
  /** Added to every Google endpoint call (not to control calls). */
  latencyMs?: number;
  /** Lifetime of authorization codes on the controllable clock. Default 600. */
  codeTtlSeconds?: number;
  /** An app's own Google APIs, served next to the built-in ones (see apis.ts). */
  apis?: readonly StandInApi[];
}

/** Names used by the request log, stats and fault injection. */
export type GoogleEndpointName =
  | 'auth'
  | 'token'
  | 'revoke'
  | 'tokeninfo'
  | 'userinfo'
  | 'certs'
  | 'discovery'
  | 'drive'
  | 'sheets'
  | 'risc';

/**
 * A built-in endpoint or the `name` of a plug-in API. The intersection keeps the built-in names
 * offered by editors while accepting any string; the control API checks it at run time.
 */
export type ApiEndpointName = GoogleEndpointName | (string & Record<never, never>);

export type EndpointName = ApiEndpointName | 'control' | 'unknown';

export const GOOGLE_ENDPOINT_NAMES: readonly GoogleEndpointName[] = [
  'auth',
  'token',
  'revoke',
  'tokeninfo',
  'userinfo',
  'certs',
  'discovery',
  'drive',
  'sheets',
  'risc',
];

export interface StandInEndpoints {
  authUrl: string;
  tokenUrl: string;
  revokeUrl: string;
  tokenInfoUrl: string;
  userInfoUrl: string;
  certsPemUrl: string;
  certsJwksUrl: string;
  discoveryUrl: string;
  /** Ends with '/', for the `rootUrl` option of `@googleapis/*` clients. */
  apiRoot: string;
  /** The `iss` of every ID token and of the `iss` redirect parameter. */
  issuer: string;
  /** `iss` of Security Event Tokens: `issuer` with a trailing slash, as Google's. */
  riscIssuer: string;
  /** The RISC discovery document (Google: accounts.google.com/.well-known/risc-configuration). */
  riscConfigurationUrl: string;
  /** The JWKS of the SET signing keys, as the discovery document's `jwks_uri` names it. */
  riscJwksUrl: string;
  /** Ends with '/'; stands for https://risc.googleapis.com/ (`v1beta/stream:update`, …). */
  riscApiRoot: string;
}

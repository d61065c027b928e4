// Google stand-in: a local OAuth 2.0 server, OpenID discovery, certificates, a minimal Drive v3
// and Sheets v4 values.get, plus an app's own plug-in APIs, behaving as
// docs/google-behaviours.md describes. Product code reaches it only through configured URLs
// (`endpoints`).
import type { AddressInfo } from 'node:net';
import { validateApis } from './apis.ts';
import { createControl, type StandInControl } from './control.ts';
import { createCore } from './core.ts';
import { FaultInjector } from './faults.ts';
import { GOOGLE_ISSUER } from './id-tokens.ts';
import { RequestLog } from './request-log.ts';
import { RISC_ISSUER } from './risc-events.ts';
import { BUILT_IN_PATHS, createStandInServer } from './server.ts';
import type { StandInEndpoints, StandInOptions } from './types.ts';

export type {
  StandInControl,
  GrantSummary,
  RiscEventInput,
  RiscPayloadInput,
  RiscStreamSnapshot,
  SeedDriveFile,
  SeedSpreadsheetInput,
} from './control.ts';
export type { ScriptedDecision } from './core.ts';
export type { DriveFileSnapshot } from './drive-store.ts';
export type { FaultSpec, FaultKind, PendingFault } from './faults.ts';
export type { RequestLogEntry, StandInStats, EndpointStats } from './request-log.ts';
export type {
  ApiEndpointName,
  ClientRegistration,
  EndpointName,
  GoogleEndpointName,
  StandInEndpoints,
  StandInOptions,
} from './types.ts';
export { GOOGLE_ISSUER } from './id-tokens.ts';

// DPoP (RFC 9449): a client key pair, proofs for the token endpoint, RFC 7638 thumbprints.
export {
  dpopProof,
  jwkThumbprint,
  newDpopKey,
  type DpopKey,
  type DpopProofInput,
  type EcPublicJwk,
} from './dpop.ts';
export { DPOP_IAT_WINDOW_S } from './dpop-check.ts';

// Cross-Account Protection: what a receiver's tests need to build and check SETs.
export {
  RISC_EVENT_TYPES,
  RISC_ISSUER,
  refreshTokenHash,
  type AccountDisabledReason,
  type RiscEventName,
  type RiscUserEventName,
  type TokenIdentifierAlg,
} from './risc-events.ts';
export type { SignSetOptions } from './risc-keys.ts';
export type { RiscDelivery } from './risc-stream.ts';

// What a plug-in API needs: its types, the caller, and replies in Google's two error shapes.
export type { ApiCaller, ApiErrorShape, StandInApi } from './apis.ts';
export { hasAnyScope } from './apis.ts';
export type { Reply, RequestContext } from './http.ts';
export { jsonReply } from './http.ts';
export { rpcError, rpcInsufficientScope, type RpcMethod, type RpcStatus } from './rpc-errors.ts';
export { legacyError, legacyInsufficientScope } from './legacy-errors.ts';

export interface GoogleStandIn {
  /** e.g. http://127.0.0.1:PORT (no trailing slash). */
  url: string;
  endpoints: StandInEndpoints;
  control: StandInControl;
  close(): Promise<void>;
}

const SWEEP_INTERVAL_MS = 30_000;

export async function startGoogleStandIn(options: StandInOptions): Promise<GoogleStandIn> {
  const latencyMs = options.latencyMs ?? 0;
  const codeTtlSeconds = options.codeTtlSeconds ?? 600;
  if (!(latencyMs >= 0)) throw new RangeError('latencyMs must be >= 0');
  if (!(codeTtlSeconds > 0)) throw new RangeError('codeTtlSeconds must be > 0');
  const apis = [...(options.apis ?? [])];
  validateApis(apis, BUILT_IN_PATHS);

  const core = await createCore({ clients: options.clients, codeTtlSeconds });
  const faults = new FaultInjector();
  const log = new RequestLog();
  const latency = { ms: latencyMs };
  const control = createControl({ core, faults, log, latency, initialLatencyMs: latencyMs, apis });
  const listening: { endpoints?: StandInEndpoints } = {};
  const server = createStandInServer({
    core,
    faults,
    log,
    latency,
    endpoints: () => {
      if (!listening.endpoints) throw new Error('stand-in not listening yet');
      return listening.endpoints;
    },
    control: () => control,
    apis,
  });

  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const endpoints = endpointsFor(url);
  listening.endpoints = endpoints;

  const sweep = setInterval(() => core.oauth.sweep(), SWEEP_INTERVAL_MS);
  sweep.unref();

  return {
    url,
    endpoints,
    control,
    close: async () => {
      clearInterval(sweep);
      core.risc.close();
      await new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}

export function endpointsFor(url: string): StandInEndpoints {
  return {
    authUrl: `${url}/o/oauth2/v2/auth`,
    tokenUrl: `${url}/token`,
    revokeUrl: `${url}/revoke`,
    tokenInfoUrl: `${url}/tokeninfo`,
    userInfoUrl: `${url}/v1/userinfo`,
    certsPemUrl: `${url}/oauth2/v1/certs`,
    certsJwksUrl: `${url}/oauth2/v3/certs`,
    discoveryUrl: `${url}/.well-known/openid-configuration`,
    apiRoot: `${url}/`,
    issuer: GOOGLE_ISSUER,
    riscIssuer: RISC_ISSUER,
    riscConfigurationUrl: `${url}/.well-known/risc-configuration`,
    riscJwksUrl: `${url}/oauth2/v3/risc-certs`,
    riscApiRoot: `${url}/risc/`,
  };
}

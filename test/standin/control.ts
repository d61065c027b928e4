// The in-process control API. control-http.ts exposes the same calls under /__control/*.
import type { ScriptedDecision, StandInCore } from './core.ts';
import type { DriveFileSnapshot } from './drive-store.ts';
import type { FaultInjector, FaultRate, FaultSpec, PendingFault } from './faults.ts';
import { mintServiceAccountIdToken } from './id-tokens.ts';
import type { RequestLog, RequestLogEntry, StandInStats } from './request-log.ts';
import type { ClientRegistration, GoogleEndpointName } from './types.ts';

export interface GrantSummary {
  clientId: string;
  sub: string;
  scopes: string[];
  liveRefreshTokens: number;
}

export interface StandInControl {
  /** Controllable-clock time in ms since the epoch. */
  now(): number;
  clockOffsetMs(): number;
  advanceClock(ms: number): void;
  setClockOffset(ms: number): void;

  /** Answer every consent request at once with this decision (null: show the page again). */
  setScriptedDecision(decision: ScriptedDecision | null): void;

  registerClient(client: ClientRegistration): void;
  /** Token calls then fail 401 deleted_client; its access tokens stop working. */
  deleteClient(clientId: string): boolean;
  /** As if the user removed the app's access in their Google Account. Returns grants removed. */
  revokeUserGrant(email: string, clientId?: string): number;
  /** Kills refresh tokens of grants holding Gmail scopes. Returns tokens killed. */
  changePassword(email: string): number;
  /** The user's next refresh fails with invalid_grant / error_subtype invalid_rapt. */
  requireReauth(email: string): void;
  grants(email: string): GrantSummary[];

  injectFault(endpoint: GoogleEndpointName, fault: FaultSpec): void;
  clearFaults(endpoint?: GoogleEndpointName): void;
  pendingFaults(): PendingFault[];
  setLatency(ms: number): void;
  /** Answers a share of the requests to `endpoints` with 503 or 429 until set to undefined. */
  setFaultRate(rate: FaultRate | undefined): void;
  /** Access token lifetime and whether answers carry `scope` (until reset). */
  setTokenShape(shape: { accessTokenLifetimeS?: number; omitScope?: boolean }): void;
  latencyMs(): number;

  requestLog(): RequestLogEntry[];
  clearRequestLog(): void;
  stats(): StandInStats;
  /** Every code, access/refresh/ID token and client secret issued or known, for leak scans. */
  issuedSecrets(): string[];

  /** A Google-signed ID token for a service account, as the metadata server would mint. */
  mintServiceAccountIdToken(input: { email: string; audience: string }): string;
  driveFiles(email: string): DriveFileSnapshot[];

  /** Back to a fresh state: no grants, tokens, files, faults, log; clock offset 0; clients undeleted. */
  reset(): void;
}

export function createControl(deps: {
  core: StandInCore;
  faults: FaultInjector;
  log: RequestLog;
  latency: { ms: number };
  initialLatencyMs: number;
}): StandInControl {
  const { core, faults, log, latency } = deps;
  const normalise = (email: string): string => email.trim().toLowerCase();
  return {
    now: () => core.clock.now(),
    clockOffsetMs: () => core.clock.offsetMs(),
    advanceClock: (ms) => core.clock.advance(ms),
    setClockOffset: (ms) => core.clock.setOffset(ms),
    setScriptedDecision(decision) {
      if (decision && decision.decision !== 'approve' && decision.decision !== 'deny') {
        throw new RangeError('decision must be approve or deny');
      }
      core.scripted.current = decision ? { ...decision } : null;
    },
    registerClient: (client) => core.oauth.registerClient(client),
    deleteClient: (clientId) => core.oauth.deleteClient(clientId),
    revokeUserGrant: (email, clientId) => core.oauth.revokeUserGrants(normalise(email), clientId),
    changePassword: (email) => core.oauth.changePassword(normalise(email)),
    requireReauth: (email) => core.oauth.requireReauth(normalise(email)),
    grants: (email) =>
      core.oauth.grantsOf(normalise(email)).map((g) => ({
        clientId: g.clientId,
        sub: g.sub,
        scopes: [...g.scopes],
        liveRefreshTokens: g.refreshTokens.size,
      })),
    injectFault: (endpoint, fault) => faults.add(endpoint, fault),
    clearFaults: (endpoint) => faults.clear(endpoint),
    pendingFaults: () => faults.pending(),
    setFaultRate: (rate) => faults.setRate(rate),
    setLatency(ms) {
      if (!(Number.isFinite(ms) && ms >= 0)) throw new RangeError('latency must be >= 0');
      latency.ms = ms;
    },
    latencyMs: () => latency.ms,
    setTokenShape(shape) {
      const lifetime = shape.accessTokenLifetimeS;
      if (lifetime !== undefined && !(Number.isInteger(lifetime) && lifetime >= 1))
        throw new RangeError('accessTokenLifetimeS must be a whole number >= 1');
      Object.assign(core.oauth.tokenShape, shape);
    },
    requestLog: () => log.entries(),
    clearRequestLog: () => log.clear(),
    stats: () => log.stats(),
    issuedSecrets: () => core.oauth.issuedSecrets(),
    mintServiceAccountIdToken(input) {
      const token = mintServiceAccountIdToken(core.keys, input);
      core.oauth.rememberSecret(token);
      return token;
    },
    driveFiles: (email) => core.drive.snapshot(normalise(email)),
    reset() {
      core.oauth.reset();
      core.drive.reset();
      core.clock.setOffset(0);
      core.scripted.current = null;
      faults.clear();
      log.clear();
      latency.ms = deps.initialLatencyMs;
    },
  };
}

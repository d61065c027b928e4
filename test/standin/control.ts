// The in-process control API. control-http.ts exposes the same calls under /__control/*.
import type { KeyObject } from 'node:crypto';
import type { StandInApi } from './apis.ts';
import type { ScriptedDecision, StandInCore } from './core.ts';
import { SPREADSHEET_MIME_TYPE, type DriveFileSnapshot } from './drive-store.ts';
import type { FaultInjector, FaultRate, FaultSpec, PendingFault, ProjectQuota } from './faults.ts';
import { mintServiceAccountIdToken } from './id-tokens.ts';
import { newSpreadsheetId, subjectFor } from './ids.ts';
import type { PublicJwk } from './keys.ts';
import type { RequestLog, RequestLogEntry, StandInStats } from './request-log.ts';
import {
  RISC_EVENT_TYPES,
  RISC_USER_EVENT_NAMES,
  setPayload,
  type AccountDisabledReason,
  type RiscEventName,
  type RiscUserEventName,
  type TokenIdentifierAlg,
} from './risc-events.ts';
import type { SignSetOptions } from './risc-keys.ts';
import type { RiscDelivery, RiscTarget } from './risc-stream.ts';
import { GOOGLE_ENDPOINT_NAMES, type ApiEndpointName, type ClientRegistration } from './types.ts';

export interface GrantSummary {
  clientId: string;
  sub: string;
  scopes: string[];
  liveRefreshTokens: number;
  /** DPoP key thumbprints (RFC 7638) the live refresh tokens are bound to, oldest token first. */
  boundJkts: string[];
}

export interface SeedSpreadsheetInput {
  /** The owner; the spreadsheet is also a Drive file of theirs (not created by any app). */
  email: string;
  title: string;
  /**
   * Sheet name → formatted cell values, row by row (rows may be ragged). Sheets keep the
   * object's key order, in which JavaScript puts integer-like names ("2024") first.
   */
  sheets: Readonly<Record<string, readonly (readonly string[])[]>>;
  /** Default: a new 44-character id like Google's. */
  id?: string;
}

export interface SeedDriveFile {
  name: string;
  /** Default application/octet-stream. */
  mimeType?: string;
  /** ISO 8601 or a Date; default now on the controllable clock. */
  modifiedTime?: string | Date;
  /** UTF-8 content for downloads; default empty. */
  content?: string;
}

/** An event about one user, sent to the clients the user granted `email` or `profile`. */
export interface RiscEventInput {
  email: string;
  type: RiscUserEventName;
  /** Only this client's grant; default every eligible one (token-revoked: the token's client). */
  clientId?: string;
  /** account-disabled only. */
  reason?: AccountDisabledReason;
  /** token-revoked only: the refresh token the SET names (by hash, or by prefix). */
  refreshToken?: string;
  /** token-revoked only; default hash_base64_sha512_sha512. */
  tokenIdentifierAlg?: TokenIdentifierAlg;
}

/** The claims of a SET for forging tests; no grant is needed. */
export interface RiscPayloadInput {
  clientId: string;
  type: RiscEventName;
  /** The user (its `sub` is derived as for grants); not needed for verification, token-revoked. */
  email?: string;
  reason?: AccountDisabledReason;
  state?: string;
  refreshToken?: string;
  tokenIdentifierAlg?: TokenIdentifierAlg;
}

export interface RiscStreamSnapshot {
  url: string;
  eventsRequested: string[];
  enabled: boolean;
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

  /** While true, a DPoP proof without the current nonce gets 400 use_dpop_nonce (until reset). */
  setDpopNonceRequired(required: boolean): void;
  /** The nonce the token endpoint sends as DPoP-Nonce and expects in proofs. */
  dpopNonce(): string;
  /** A new nonce; proofs with the previous one get use_dpop_nonce. Returns the new nonce. */
  rotateDpopNonce(): string;

  /** `endpoint`: a built-in name or a plug-in API's name (RangeError for any other). */
  injectFault(endpoint: ApiEndpointName, fault: FaultSpec): void;
  clearFaults(endpoint?: ApiEndpointName): void;
  /** Built-in endpoint names, then the plug-in APIs' names. */
  endpointNames(): ApiEndpointName[];
  pendingFaults(): PendingFault[];
  setLatency(ms: number): void;
  /** Answers a share of the requests to `endpoints` with 503 or 429 until set to undefined. */
  setFaultRate(rate: FaultRate | undefined): void;
  /** A project-wide quota over `endpoints` (429 beyond it) until set to undefined. */
  setProjectQuota(quota: ProjectQuota | undefined): void;
  /** Calls the project quota refused since it was set. */
  quotaRefusals(): number;
  /**
   * Access token lifetime, whether answers carry `scope`, and a `sub` every ID token names instead
   * of the user's (until reset).
   */
  setTokenShape(shape: {
    accessTokenLifetimeS?: number;
    omitScope?: boolean;
    idTokenSub?: string | undefined;
  }): void;
  latencyMs(): number;

  requestLog(): RequestLogEntry[];
  clearRequestLog(): void;
  stats(): StandInStats;
  /** Every code, access/refresh/ID token and client secret issued or known, for leak scans. */
  issuedSecrets(): string[];

  /** A Google-signed ID token for a service account, as the metadata server would mint. */
  mintServiceAccountIdToken(input: { email: string; audience: string }): string;
  driveFiles(email: string): DriveFileSnapshot[];
  /** The user deletes a file (or folder) for good, as in Drive's own UI. */
  deleteDriveFile(email: string, id: string): void;
  /** A spreadsheet owned by `email`, readable through Sheets values.get and listed by Drive. */
  seedSpreadsheet(input: SeedSpreadsheetInput): { spreadsheetId: string };
  /** Files the user made themselves (in My Drive): drive.file clients never see them. */
  seedDriveFiles(input: { email: string; files: readonly SeedDriveFile[] }): { ids: string[] };

  // Cross-Account Protection. Every emitting call resolves when its deliveries are done (after
  // any retry) with what was pushed: nothing while no stream is configured, it is disabled, or
  // it did not request the event type, and nothing for grants without `email`/`profile`.
  // `revokeUserGrant` sends `tokens-revoked` without waiting: await `riscSettled()`.
  /** As if Google disabled the account: `account-disabled`; its tokens are refused until enabled. */
  disableAccount(input: { email: string; reason?: AccountDisabledReason }): Promise<RiscDelivery[]>;
  /** `account-enabled`; the account's tokens work again. */
  enableAccount(input: { email: string }): Promise<RiscDelivery[]>;
  /** Any user event, without changing any state (the account, its tokens). */
  emitRiscEvent(input: RiscEventInput): Promise<RiscDelivery[]>;
  /** Every delivery so far, oldest first (including ones still retrying: see riscSettled). */
  riscDeliveries(): RiscDelivery[];
  /** Waits for every queued delivery, then returns riscDeliveries(). */
  riscSettled(): Promise<RiscDelivery[]>;
  /** The stream as stream:update and stream/status:update left it; undefined before any update. */
  riscStream(): RiscStreamSnapshot | undefined;
  /** Claims of a SET as the stand-in would send (fresh jti), to alter and sign with signSet. */
  riscSetPayload(input: RiscPayloadInput): Record<string, unknown>;
  /** Signs any claims as a SET: with the published key (default), a foreign one, or none. */
  signSet(payload: Record<string, unknown>, options?: SignSetOptions): string;
  /** Pushes a SET as given to the stream's receiver (whatever its status and events). */
  deliverSet(set: string): Promise<RiscDelivery>;
  /** The key that signs SETs now, e.g. for a test that signs with its own JWT library. */
  riscSigningKey(): { kid: string; privateKey: KeyObject; jwk: PublicJwk };
  /** A new signing key (new kid) from now on; the previous one stays published. */
  rotateRiscKey(): Promise<{ kid: string; previousKid: string }>;

  /**
   * Back to a fresh state: no grants, tokens, files, faults, log, DPoP nonce requirement or seen
   * proof ids; clock offset 0; clients undeleted.
   */
  reset(): void;
}

export function createControl(deps: {
  core: StandInCore;
  faults: FaultInjector;
  log: RequestLog;
  latency: { ms: number };
  initialLatencyMs: number;
  apis: readonly StandInApi[];
}): StandInControl {
  const { core, faults, log, latency } = deps;
  const normalise = (email: string): string => email.trim().toLowerCase();
  const names: ApiEndpointName[] = [...GOOGLE_ENDPOINT_NAMES, ...deps.apis.map((a) => a.name)];
  const known = (endpoint: ApiEndpointName): ApiEndpointName => {
    if (!names.includes(endpoint)) {
      throw new RangeError(`endpoint must be one of ${names.join(', ')}: ${endpoint}`);
    }
    return endpoint;
  };
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
    revokeUserGrant(email, clientId) {
      // The grants' scopes decide who hears of it, so they are read before the grants go.
      const targets = core.risc.targets(normalise(email), clientId);
      const removed = core.oauth.revokeUserGrants(normalise(email), clientId);
      void core.risc.emit(targets, { event: 'tokens-revoked' });
      return removed;
    },
    changePassword: (email) => core.oauth.changePassword(normalise(email)),
    requireReauth: (email) => core.oauth.requireReauth(normalise(email)),
    grants: (email) =>
      core.oauth.grantsOf(normalise(email)).map((g) => ({
        clientId: g.clientId,
        sub: g.sub,
        scopes: [...g.scopes],
        liveRefreshTokens: g.refreshTokens.size,
        boundJkts: [
          ...new Set([...g.refreshTokens.values()].flatMap((t) => (t.jkt ? [t.jkt] : []))),
        ],
      })),
    setDpopNonceRequired(required) {
      if (typeof required !== 'boolean') throw new RangeError('required must be a boolean');
      core.dpop.nonceRequired = required;
    },
    dpopNonce: () => core.dpop.nonce,
    rotateDpopNonce: () => core.dpop.rotateNonce(),
    injectFault: (endpoint, fault) => faults.add(known(endpoint), fault),
    clearFaults: (endpoint) => faults.clear(endpoint === undefined ? undefined : known(endpoint)),
    endpointNames: () => [...names],
    pendingFaults: () => faults.pending(),
    setFaultRate: (rate) => faults.setRate(rate),
    setProjectQuota: (quota) => faults.setQuota(quota),
    quotaRefusals: () => faults.quotaRefusals(),
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
    deleteDriveFile(email, id) {
      if (!core.drive.delete(normalise(requireEmail(email)), id))
        throw new RangeError(`no file ${id} of ${email}`);
    },
    seedSpreadsheet(input) {
      const email = requireEmail(input.email);
      if (typeof input.title !== 'string' || input.title === '')
        throw new RangeError('title must be a non-empty string');
      const id = input.id ?? newSpreadsheetId();
      if (!/^[A-Za-z0-9_-]+$/.test(id)) throw new RangeError(`invalid spreadsheet id: ${id}`);
      if (core.drive.has(id)) throw new RangeError(`a file with id ${id} exists already`);
      // Values first: it validates the sheets before anything is stored.
      core.sheets.set(id, input.sheets);
      core.drive.create(email, {
        id,
        name: input.title,
        mimeType: SPREADSHEET_MIME_TYPE,
        parents: [],
        content: Buffer.alloc(0),
        clientId: null,
      });
      return { spreadsheetId: id };
    },
    seedDriveFiles(input) {
      const email = requireEmail(input.email);
      if (!Array.isArray(input.files)) throw new RangeError('files must be an array');
      const files = input.files.map(checkSeedFile);
      const ids = files.map(
        (f) =>
          core.drive.create(email, {
            name: f.name,
            mimeType: f.mimeType,
            parents: [],
            content: Buffer.from(f.content, 'utf8'),
            clientId: null,
            ...(f.modifiedTime !== undefined ? { modifiedTime: f.modifiedTime } : {}),
          }).id,
      );
      return { ids };
    },
    // async: a bad input rejects like a failed delivery would, rather than throwing.
    async disableAccount(input) {
      const email = requireEmail(input.email);
      const reason = checkReason(input.reason);
      core.oauth.setAccountDisabled(email, true);
      return await core.risc.emit(core.risc.targets(email), {
        event: 'account-disabled',
        ...(reason !== undefined ? { reason } : {}),
      });
    },
    async enableAccount(input) {
      const email = requireEmail(input.email);
      core.oauth.setAccountDisabled(email, false);
      return await core.risc.emit(core.risc.targets(email), { event: 'account-enabled' });
    },
    async emitRiscEvent(input) {
      const email = requireEmail(input.email);
      const event = checkUserEvent(input);
      return await core.risc.emit(riscTargets(core, email, input), event);
    },
    riscDeliveries: () => core.risc.deliveries(),
    riscSettled: () => core.risc.settled(),
    riscStream() {
      const config = core.risc.config();
      return config && { ...config, enabled: core.risc.enabled() };
    },
    riscSetPayload(input) {
      if (!Object.hasOwn(RISC_EVENT_TYPES, input.type))
        throw new RangeError(`type must be one of ${Object.keys(RISC_EVENT_TYPES).join(', ')}`);
      return setPayload({
        clientId: input.clientId,
        event: input.type,
        ...(input.email !== undefined ? { sub: subjectFor(requireEmail(input.email)) } : {}),
        ...(input.reason !== undefined ? { reason: input.reason } : {}),
        ...(input.state !== undefined ? { state: input.state } : {}),
        ...(input.refreshToken !== undefined ? { refreshToken: input.refreshToken } : {}),
        ...(input.tokenIdentifierAlg !== undefined
          ? { tokenIdentifierAlg: input.tokenIdentifierAlg }
          : {}),
      });
    },
    signSet: (payload, options) => core.risc.keys.sign(payload, options),
    deliverSet: (set) => core.risc.deliverRaw(set),
    riscSigningKey() {
      const key = core.risc.keys.signing;
      return { kid: key.kid, privateKey: key.privateKey, jwk: { ...key.jwk } };
    },
    rotateRiscKey: () => core.risc.keys.rotate(),
    reset() {
      core.oauth.reset();
      core.dpop.reset();
      core.risc.reset();
      core.drive.reset();
      core.sheets.reset();
      for (const api of deps.apis) api.reset?.();
      core.clock.setOffset(0);
      core.scripted.current = null;
      faults.clear();
      log.clear();
      latency.ms = deps.initialLatencyMs;
    },
  };
}

function checkReason(reason: unknown): AccountDisabledReason | undefined {
  if (reason === undefined || reason === 'hijacking' || reason === 'bulk-account') return reason;
  throw new RangeError('reason must be hijacking or bulk-account');
}

/** The event part of a RiscEventInput, checked (the HTTP control route passes any JSON). */
function checkUserEvent(input: RiscEventInput): Parameters<StandInCore['risc']['emit']>[1] {
  const type = input.type;
  if (!RISC_USER_EVENT_NAMES.includes(type))
    throw new RangeError(`type must be one of ${RISC_USER_EVENT_NAMES.join(', ')}`);
  const reason = checkReason(input.reason);
  if (reason !== undefined && type !== 'account-disabled')
    throw new RangeError('reason is for account-disabled only');
  if (type !== 'token-revoked') return { event: type, ...(reason ? { reason } : {}) };
  if (typeof input.refreshToken !== 'string' || input.refreshToken === '')
    throw new RangeError('token-revoked needs refreshToken');
  const alg = input.tokenIdentifierAlg;
  if (alg !== undefined && alg !== 'hash_base64_sha512_sha512' && alg !== 'prefix')
    throw new RangeError('tokenIdentifierAlg must be hash_base64_sha512_sha512 or prefix');
  return {
    event: type,
    refreshToken: input.refreshToken,
    ...(alg !== undefined ? { tokenIdentifierAlg: alg } : {}),
  };
}

/**
 * Who hears of a user event: the eligible grants (of `clientId` if given). A token-revoked
 * without clientId goes to the client whose grant holds that refresh token.
 */
function riscTargets(core: StandInCore, email: string, input: RiscEventInput): RiscTarget[] {
  if (input.type !== 'token-revoked' || input.clientId !== undefined)
    return core.risc.targets(email, input.clientId);
  const holder = core.oauth
    .grantsOf(email)
    .find((g) => input.refreshToken !== undefined && g.refreshTokens.has(input.refreshToken));
  if (!holder)
    throw new RangeError('clientId is needed: no grant of this user holds that refresh token');
  return core.risc.targets(email, holder.clientId);
}

function requireEmail(email: unknown): string {
  if (typeof email !== 'string' || !email.includes('@'))
    throw new RangeError('email must be an email address');
  return email.trim().toLowerCase();
}

/** Checked before any file is created, so a bad entry seeds nothing. */
function checkSeedFile(file: SeedDriveFile): {
  name: string;
  mimeType: string;
  content: string;
  modifiedTime: number | undefined;
} {
  if (typeof file.name !== 'string' || file.name === '')
    throw new RangeError('every file needs a non-empty name');
  const mimeType = file.mimeType ?? 'application/octet-stream';
  if (typeof mimeType !== 'string' || !mimeType.includes('/'))
    throw new RangeError(`invalid mimeType: ${String(mimeType)}`);
  const content = file.content ?? '';
  if (typeof content !== 'string') throw new RangeError('content must be a string');
  const raw = file.modifiedTime;
  const modifiedTime =
    raw === undefined ? undefined : raw instanceof Date ? raw.getTime() : Date.parse(raw);
  if (modifiedTime !== undefined && !Number.isFinite(modifiedTime))
    throw new RangeError(`invalid modifiedTime: ${String(raw)}`);
  return { name: file.name, mimeType, content, modifiedTime };
}

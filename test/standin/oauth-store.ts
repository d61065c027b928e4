// In-memory model of Google's authorization state: clients, grants (one per user and client),
// authorization codes, access and refresh tokens. All lookups by token are O(1) Map reads.
// Expiry is judged on the controllable clock.
import type { Clock } from './clock.ts';
import { newAccessToken, newAuthCode, newRefreshToken, subjectFor } from './ids.ts';
import { holdsGmailScope } from './scopes.ts';
import type { ClientRegistration } from './types.ts';

export const ACCESS_TOKEN_LIFETIME_S = 3599;
/** Seen in Testing-mode token responses: 7 days minus one second. */
export const TESTING_REFRESH_TOKEN_LIFETIME_S = 604_799;
export const MAX_LIVE_REFRESH_TOKENS = 100;
/** A refresh token unused for six months stops working. */
export const UNUSED_REFRESH_TOKEN_LIFETIME_MS = 183 * 86_400_000;

export interface ClientRecord {
  clientId: string;
  clientSecret: string;
  redirectUris: readonly string[];
  testingMode: boolean;
  deleted: boolean;
}

export interface Grant {
  key: string;
  email: string;
  sub: string;
  clientId: string;
  /** Everything the user ever granted this client (for include_granted_scopes). */
  scopes: Set<string>;
  /** Insertion order = age, so the first entry is the one the 101st token pushes out. */
  refreshTokens: Map<string, RefreshTokenRecord>;
  accessTokens: Set<string>;
  codes: Set<string>;
}

export interface RefreshTokenRecord {
  token: string;
  grant: Grant;
  scopes: readonly string[];
  lastUsedAt: number;
  /** Absolute clock time for Testing-mode clients, else null. */
  expiresAt: number | null;
  /** JWK thumbprint of the DPoP key it is bound to (RFC 9449), if the exchange sent a proof. */
  jkt: string | undefined;
}

export interface AccessTokenRecord {
  token: string;
  grant: Grant;
  scopes: readonly string[];
  expiresAt: number;
  accessType: 'online' | 'offline';
}

export interface AuthCodeRecord {
  code: string;
  grant: Grant;
  redirectUri: string;
  scopes: readonly string[];
  nonce: string | undefined;
  codeChallenge: string | undefined;
  codeChallengeMethod: 'S256' | 'plain' | undefined;
  accessType: 'online' | 'offline';
  /** access_type=offline AND a consent screen was shown. */
  issueRefreshToken: boolean;
  expiresAt: number;
  used: boolean;
  /** Tokens minted by exchanging this code; revoked if the code is replayed. */
  minted: string[];
}

export interface ApprovalInput {
  clientId: string;
  email: string;
  /** Scopes granted in this consent (already normalised, sign-in scopes included). */
  granted: readonly string[];
  includeGrantedScopes: boolean;
  promptConsent: boolean;
  accessType: 'online' | 'offline';
  redirectUri: string;
  nonce: string | undefined;
  codeChallenge: string | undefined;
  codeChallengeMethod: 'S256' | 'plain' | undefined;
}

export type RefreshLookup =
  { ok: true; record: RefreshTokenRecord } | { ok: false; reason: 'dead' | 'other_client' };

export class OAuthStore {
  readonly clients = new Map<string, ClientRecord>();
  readonly #grants = new Map<string, Grant>();
  readonly #codes = new Map<string, AuthCodeRecord>();
  readonly #accessTokens = new Map<string, AccessTokenRecord>();
  readonly #refreshTokens = new Map<string, RefreshTokenRecord>();
  readonly #secrets = new Set<string>();
  readonly #reauthRequired = new Set<string>();
  /** Accounts Google disabled (RISC account-disabled): their tokens are refused until enabled. */
  readonly #disabled = new Set<string>();
  readonly #clock: Clock;
  readonly #codeTtlMs: number;

  constructor(clock: Clock, codeTtlSeconds: number, clients: readonly ClientRegistration[]) {
    this.#clock = clock;
    this.#codeTtlMs = codeTtlSeconds * 1000;
    for (const client of clients) this.registerClient(client);
  }

  registerClient(reg: ClientRegistration): void {
    if (!reg.clientId || !reg.clientSecret)
      throw new Error('client needs clientId and clientSecret');
    this.clients.set(reg.clientId, {
      clientId: reg.clientId,
      clientSecret: reg.clientSecret,
      redirectUris: [...reg.redirectUris],
      testingMode: reg.testingMode ?? false,
      deleted: false,
    });
    this.#secrets.add(reg.clientSecret);
  }

  deleteClient(clientId: string): boolean {
    const client = this.clients.get(clientId);
    if (!client) return false;
    client.deleted = true;
    return true;
  }

  grant(email: string, clientId: string): Grant | undefined {
    return this.#grants.get(grantKey(email, clientId));
  }

  grantsOf(email: string): Grant[] {
    return [...this.#grants.values()].filter((g) => g.email === email);
  }

  /** Records a consent and issues a code. Returns the scopes the token will carry. */
  approve(input: ApprovalInput): { code: string; scopes: string[]; consentShown: boolean } {
    const key = grantKey(input.email, input.clientId);
    let grant = this.#grants.get(key);
    const consentShown = grant === undefined || input.promptConsent;
    if (!grant) {
      grant = {
        key,
        email: input.email,
        sub: subjectFor(input.email),
        clientId: input.clientId,
        scopes: new Set(),
        refreshTokens: new Map(),
        accessTokens: new Set(),
        codes: new Set(),
      };
      this.#grants.set(key, grant);
    }
    const scopes = new Set(input.granted);
    if (input.includeGrantedScopes) for (const s of grant.scopes) scopes.add(s);
    for (const s of input.granted) grant.scopes.add(s);
    const code = newAuthCode();
    this.#codes.set(code, {
      code,
      grant,
      redirectUri: input.redirectUri,
      scopes: [...scopes],
      nonce: input.nonce,
      codeChallenge: input.codeChallenge,
      codeChallengeMethod: input.codeChallengeMethod,
      accessType: input.accessType,
      issueRefreshToken: input.accessType === 'offline' && consentShown,
      expiresAt: this.#clock.now() + this.#codeTtlMs,
      used: false,
      minted: [],
    });
    grant.codes.add(code);
    this.#secrets.add(code);
    return { code, scopes: [...scopes], consentShown };
  }

  /** A live code (unused, unexpired) or the reason it is not. */
  findCode(code: string): { ok: true; record: AuthCodeRecord } | { ok: false; replayed: boolean } {
    const record = this.#codes.get(code);
    if (!record || record.expiresAt <= this.#clock.now()) return { ok: false, replayed: false };
    if (record.used) return { ok: false, replayed: true };
    return { ok: true, record };
  }

  /**
   * A replayed code revokes the tokens minted from it (RFC 6749 §4.1.2 "SHOULD"); the rest of
   * the grant survives.
   */
  revokeMintedFrom(code: string): void {
    const record = this.#codes.get(code);
    if (!record) return;
    for (const token of record.minted) this.#dropToken(token);
    record.minted = [];
  }

  /** Marks the code used and mints its tokens; the refresh token is bound to `jkt` if given. */
  redeemCode(
    record: AuthCodeRecord,
    jkt?: string,
  ): {
    access: AccessTokenRecord;
    refresh: RefreshTokenRecord | undefined;
  } {
    record.used = true;
    record.grant.codes.delete(record.code);
    const access = this.mintAccessToken(record.grant, record.scopes, record.accessType);
    record.minted.push(access.token);
    let refresh: RefreshTokenRecord | undefined;
    if (record.issueRefreshToken) {
      refresh = this.#mintRefreshToken(record.grant, record.scopes, jkt);
      record.minted.push(refresh.token);
    }
    return { access, refresh };
  }

  /**
   * How token answers look: Google's access tokens live an hour and answers carry `scope`; other
   * authorization servers issue shorter tokens or leave `scope` out (RFC 6749 §5.1).
   */
  readonly tokenShape: {
    accessTokenLifetimeS: number;
    omitScope: boolean;
    /** ID tokens name this `sub` instead of the user's (a broken issuer, for our checks). */
    idTokenSub: string | undefined;
  } = { accessTokenLifetimeS: ACCESS_TOKEN_LIFETIME_S, omitScope: false, idTokenSub: undefined };

  mintAccessToken(
    grant: Grant,
    scopes: readonly string[],
    accessType: 'online' | 'offline',
  ): AccessTokenRecord {
    const token = newAccessToken();
    const record: AccessTokenRecord = {
      token,
      grant,
      scopes,
      expiresAt: this.#clock.now() + this.tokenShape.accessTokenLifetimeS * 1000,
      accessType,
    };
    this.#accessTokens.set(token, record);
    grant.accessTokens.add(token);
    this.#secrets.add(token);
    return record;
  }

  #mintRefreshToken(
    grant: Grant,
    scopes: readonly string[],
    jkt: string | undefined,
  ): RefreshTokenRecord {
    const client = this.clients.get(grant.clientId);
    const now = this.#clock.now();
    const token = newRefreshToken();
    const record: RefreshTokenRecord = {
      token,
      grant,
      scopes,
      lastUsedAt: now,
      expiresAt: client?.testingMode ? now + 7 * 86_400_000 : null,
      jkt,
    };
    this.#refreshTokens.set(token, record);
    grant.refreshTokens.set(token, record);
    this.#secrets.add(token);
    // The 101st live token silently invalidates the oldest.
    while (grant.refreshTokens.size > MAX_LIVE_REFRESH_TOKENS) {
      const oldest = grant.refreshTokens.keys().next();
      if (oldest.done) break;
      this.#dropToken(oldest.value);
    }
    return record;
  }

  findRefreshToken(token: string, clientId: string): RefreshLookup {
    const record = this.#refreshTokens.get(token);
    if (!record) return { ok: false, reason: 'dead' };
    const now = this.#clock.now();
    const expired =
      (record.expiresAt !== null && record.expiresAt <= now) ||
      now - record.lastUsedAt > UNUSED_REFRESH_TOKEN_LIFETIME_MS;
    if (expired) {
      this.#dropToken(token);
      return { ok: false, reason: 'dead' };
    }
    if (record.grant.clientId !== clientId) return { ok: false, reason: 'other_client' };
    // Kept, not dropped: enabling the account again makes it work again.
    if (this.#disabled.has(record.grant.email)) return { ok: false, reason: 'dead' };
    return { ok: true, record };
  }

  touchRefreshToken(record: RefreshTokenRecord): void {
    record.lastUsedAt = this.#clock.now();
  }

  /** A live access token (unexpired on the clock, client not deleted). */
  findAccessToken(token: string): AccessTokenRecord | undefined {
    const record = this.#accessTokens.get(token);
    if (!record) return undefined;
    if (record.expiresAt <= this.#clock.now()) {
      this.#dropToken(token);
      return undefined;
    }
    if (this.clients.get(record.grant.clientId)?.deleted) return undefined;
    if (this.#disabled.has(record.grant.email)) return undefined;
    return record;
  }

  /** Revoke endpoint: any live token of a grant kills the whole grant. */
  revokeByToken(token: string): boolean {
    const access = this.findAccessToken(token);
    const refresh = this.#refreshTokens.get(token);
    const live = refresh ? this.findRefreshToken(token, refresh.grant.clientId) : undefined;
    const grant = access?.grant ?? (live?.ok ? live.record.grant : undefined);
    if (!grant) return false;
    this.#removeGrant(grant);
    return true;
  }

  /** As if the user removed the app in their Google Account. Returns grants removed. */
  revokeUserGrants(email: string, clientId?: string): number {
    const grants = this.grantsOf(email).filter((g) => !clientId || g.clientId === clientId);
    for (const grant of grants) this.#removeGrant(grant);
    return grants.length;
  }

  /** Password change kills refresh tokens of grants holding Gmail scopes. Returns tokens killed. */
  changePassword(email: string): number {
    let killed = 0;
    for (const grant of this.grantsOf(email)) {
      if (!holdsGmailScope(grant.scopes)) continue;
      for (const token of [...grant.refreshTokens.keys()]) {
        this.#dropToken(token);
        killed += 1;
      }
    }
    return killed;
  }

  /** While disabled, the account's refresh and access tokens are refused (invalid_grant, 401). */
  setAccountDisabled(email: string, disabled: boolean): void {
    if (disabled) this.#disabled.add(email);
    else this.#disabled.delete(email);
  }

  requireReauth(email: string): void {
    this.#reauthRequired.add(email);
  }

  /** One-shot: true once after requireReauth(email). */
  takeReauthRequirement(email: string): boolean {
    return this.#reauthRequired.delete(email);
  }

  rememberSecret(value: string): void {
    this.#secrets.add(value);
  }

  issuedSecrets(): string[] {
    return [...this.#secrets];
  }

  liveRefreshTokenCount(email: string, clientId: string): number {
    return this.grant(email, clientId)?.refreshTokens.size ?? 0;
  }

  /** Forgets expired codes and access tokens so long runs do not grow without bound. */
  sweep(): void {
    const now = this.#clock.now();
    for (const [code, record] of this.#codes) {
      if (record.expiresAt <= now) {
        this.#codes.delete(code);
        record.grant.codes.delete(code);
      }
    }
    for (const [token, record] of this.#accessTokens) {
      if (record.expiresAt <= now) this.#dropToken(token);
    }
  }

  /** Forgets all grants, codes, tokens and flags; clients are restored (undeleted). */
  reset(): void {
    this.tokenShape.accessTokenLifetimeS = ACCESS_TOKEN_LIFETIME_S;
    this.tokenShape.omitScope = false;
    this.tokenShape.idTokenSub = undefined;
    this.#grants.clear();
    this.#codes.clear();
    this.#accessTokens.clear();
    this.#refreshTokens.clear();
    this.#reauthRequired.clear();
    this.#disabled.clear();
    this.#secrets.clear();
    for (const client of this.clients.values()) {
      client.deleted = false;
      this.#secrets.add(client.clientSecret);
    }
  }

  #removeGrant(grant: Grant): void {
    for (const token of [...grant.refreshTokens.keys(), ...grant.accessTokens]) {
      this.#dropToken(token);
    }
    for (const code of grant.codes) this.#codes.delete(code);
    this.#grants.delete(grant.key);
  }

  #dropToken(token: string): void {
    const access = this.#accessTokens.get(token);
    if (access) {
      this.#accessTokens.delete(token);
      access.grant.accessTokens.delete(token);
    }
    const refresh = this.#refreshTokens.get(token);
    if (refresh) {
      this.#refreshTokens.delete(token);
      refresh.grant.refreshTokens.delete(token);
    }
  }
}

function grantKey(email: string, clientId: string): string {
  return `${clientId}\u0000${email}`;
}

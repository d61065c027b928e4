// The callback's side of the connection repository: a finished consent stored through the
// guarded `consentStored` transition, over Firestore REST; and what the callback discards is
// handed back to Google at once, so no grant stays alive that nothing could ever revoke.
import type { PurposeKeys } from '../crypto/keyset.ts';
import type { CodeExchangeResult } from '../oauth/callback.ts';
import { revokeToken } from '../oauth/revocation.ts';
import { normaliseScopes } from '../oauth/scopes.ts';
import type { Runtime } from '../platform/runtime.ts';
import { classifyError } from '../retry/classify.ts';
import { sealToken } from '../store/connection/document.ts';
import { createConnectionRepository } from '../store/connection/repository.ts';
import { restConnectionBackend } from '../store/connection/rest-backend.ts';
import type { ConsentInput, ConsentRefusal } from '../store/connection/transitions.ts';
import type { SideRecord } from '../store/connection/repository.ts';
import { appUserWrite, claimConnectLink, readAppUser } from '../store/app-users.ts';
import { revokeConnection, runtimeRevocationDeps } from '../revocation/revoke-connection.ts';
import type { ConnectLink } from '../web/connect-link.ts';
import { riscTokenHash } from '../risc/token-hash.ts';

export type StoredConsent =
  | { readonly kind: 'written'; readonly outcome: 'connected' | 'reconnected' }
  | { readonly kind: 'refused'; readonly refusal: ConsentRefusal | ConnectRefusal };

/** Why a consent from a connect link is not stored. */
export type ConnectRefusal =
  /** The link was used before (each is single-use). */
  | 'link-used'
  /** The app user connected another Google account, and APP_USER_SECOND_ACCOUNT=refuse. */
  | 'other-account';

export async function storeConsent(
  runtime: Runtime,
  result: CodeExchangeResult,
  connect: ConnectLink | null = null,
): Promise<StoredConsent> {
  const keys = await runtime.keys('token');
  const documents = await runtime.documents();
  const connections = createConnectionRepository(restConnectionBackend(documents));
  const now = runtime.clock.now();
  const alongside: SideRecord[] = [];
  if (connect !== null) {
    if (!(await claimConnectLink(documents, connect)))
      return { kind: 'refused', refusal: 'link-used' };
    const mapped = await readAppUser(documents, connect.appUserId);
    if (mapped !== undefined && mapped.sub !== result.sub) {
      const other = (await connections.read(mapped.sub)).connection;
      if (other !== undefined && other.state !== 'revoked') {
        if (runtime.config.connect.secondAccount === 'refuse')
          return { kind: 'refused', refusal: 'other-account' };
        // replace: the first Google account's grant ends at Google and here, first.
        await revokeConnection(runtimeRevocationDeps(runtime, connections), mapped.sub, {
          via: 'replaced',
          actor: `app-user:${connect.appUserId}`,
        });
      }
    }
    alongside.push(appUserWrite(connect.appUserId, result.sub, mapped, new Date(now)));
  }
  const applied = await connections.storeConsent(
    { ...consentInput(keys, result, now), appUserId: connect?.appUserId ?? null },
    alongside,
  );
  if (applied.kind === 'refused') return { kind: 'refused', refusal: applied.refusal };
  return {
    kind: 'written',
    // A document read before the write means the user had connected before.
    outcome: applied.previous === undefined ? 'connected' : 'reconnected',
  };
}

/** The transition's input: the answer's tokens sealed to this user's document. */
export function consentInput(
  keys: PurposeKeys,
  result: CodeExchangeResult,
  now: number,
): ConsentInput {
  return {
    sub: result.sub,
    email: result.email,
    scopes: normaliseScopes(result.grantedScopes),
    refreshToken:
      result.refreshToken === undefined
        ? undefined
        : sealToken(keys, result.sub, 'refreshToken', result.refreshToken),
    refreshTokenHash:
      result.refreshToken === undefined ? undefined : riscTokenHash(result.refreshToken),
    dpopJkt: result.dpopJkt,
    refreshTokenExpiresAt:
      result.refreshToken === undefined || result.refreshTokenExpiresInSeconds === undefined
        ? null
        : new Date(now + result.refreshTokenExpiresInSeconds * 1000),
    accessToken: sealToken(keys, result.sub, 'accessToken', result.accessToken),
    accessTokenExpiresAt: new Date(result.accessTokenExpiresAt),
    appUserId: null,
    now: new Date(now),
  };
}

/**
 * Best effort, logged: revokes the refresh token of an answer the callback does not keep (a
 * partial grant, a failed write, a revocation still pending). An answer without a refresh token
 * belongs to a grant we may already hold, so its access token is left to expire.
 */
export async function revokeDiscarded(
  runtime: Runtime,
  result: CodeExchangeResult,
  why: 'partial-grant' | 'storage-failed' | 'revoke-pending' | 'duplicate' | 'refused',
): Promise<void> {
  if (result.refreshToken === undefined) {
    runtime.log.info('discarded consent had no refresh token; nothing to revoke', {
      sub: result.sub,
      why,
    });
    return;
  }
  try {
    const googleResult = await revokeToken(runtime.config.google.revokeUrl, result.refreshToken, {
      attempts: 2,
    });
    runtime.log.info('discarded refresh token revoked at Google', {
      sub: result.sub,
      why,
      googleResult,
    });
  } catch (error) {
    runtime.log.warn('cannot revoke a discarded refresh token', {
      sub: result.sub,
      why,
      reason: classifyError(error).reason,
    });
  }
}

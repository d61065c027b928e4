// Revoking one user's grant (RFC 7009) and destroying what we stored, for the revoke function
// (a link or the app's backend) and for the runs (a revoke-pending connection). Revoke the
// REFRESH token at Google, then one guarded transition: `revoked` with every token gone, or,
// when Google could not be told, `revoke-pending` (never used again; retried). A permanent refusal
// from Google (a 4xx other than invalid_token) is a configuration fault: the operator is alerted,
// and the runs retry only once the OAuth client configuration changed (docs/operations.md#when-google-refuses-a-revocation).
import { createHash } from 'node:crypto';
import type { PurposeKeys } from '../crypto/keyset.ts';
import { OAuthResponseError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Runtime } from '../platform/runtime.ts';
import { revokeToken, type RevokeOptions } from '../oauth/revocation.ts';
import { appUserOf, type EventPublisher } from '../pubsub/events.ts';
import { classifyError } from '../retry/classify.ts';
import type { Clock } from '../retry/time.ts';
import type { Config } from '../settings/config.ts';
import { openToken, type Connection, type RevokeRefusal } from '../store/connection/document.ts';
import type { ConnectionRepository, SideRecord } from '../store/connection/repository.ts';
import { newDocumentId } from '../store/firestore-rest.ts';

export type RevokeOutcome =
  | 'revoked'
  | 'already-revoked'
  /** Google could not be told yet: every run retries. */
  | 'pending'
  /** Google refused for good: recorded, the operator is alerted and completes it. */
  | 'refused'
  | 'not-found';

export interface Revoker {
  /** `replaced`: the app user connected another Google account (APP_USER_SECOND_ACCOUNT=replace). */
  readonly via: 'link' | 'api' | 'scheduled-retry' | 'replaced' | 'risc';
  readonly actor: string;
}

export interface RevocationDeps {
  readonly config: Pick<Config, 'clientId'> & {
    readonly google: Pick<Config['google'], 'revokeUrl'>;
  };
  readonly connections: ConnectionRepository;
  readonly tokenKeys: () => Promise<PurposeKeys>;
  readonly events: EventPublisher;
  readonly log: Logger;
  readonly clock: Clock;
  readonly revokeOptions?: RevokeOptions;
}

/** Stable alert field value: grep logs or build a log-based alert on it. */
export const REVOKE_REFUSED_ALERT = 'revoke_refused';

/** Message of the line a connection left revoke-pending logs (the deploy's metric counts it). */
export const REVOKE_PENDING_LOG =
  'Google revoke failed after retries; connection is revoke-pending';

/** Who revoked whom, when, and what Google said: never a token. */
export const REVOCATIONS = 'revocations';

/** Revocation records are kept this long (TTL field `expireAt`). */
const REVOCATION_RECORD_DAYS = 400;

/** What revoking needs, from a request-path runtime and its connection repository. */
export function runtimeRevocationDeps(
  runtime: Runtime,
  connections: ConnectionRepository,
): RevocationDeps {
  return {
    config: runtime.config,
    connections,
    tokenKeys: async () => await runtime.keys('token'),
    events: runtime.events(),
    log: runtime.log,
    clock: runtime.clock,
  };
}

/** Idempotent; completes a revoke-pending connection too. */
export async function revokeConnection(
  deps: RevocationDeps,
  sub: string,
  revoker: Revoker,
): Promise<RevokeOutcome> {
  const { connection } = await deps.connections.read(sub);
  if (connection === undefined) return 'not-found';
  if (connection.state === 'revoked') return 'already-revoked';
  const now = () => new Date(deps.clock.now());
  const record = (googleResult: string) =>
    revocationRecord({ sub, revoker, googleResult, now: now() });

  let googleResult: string;
  try {
    googleResult = await revokeAtGoogle(deps, connection);
  } catch (error) {
    const refusal = permanentRefusal(deps, error, now());
    const pending = await deps.connections.markRevokePending(sub, {
      now: now(),
      refusal,
      record: record(refusal ? `refused:${refusal.error}` : 'pending'),
    });
    if (pending.kind === 'refused')
      return pending.refusal === 'missing' ? 'not-found' : 'already-revoked';
    if (refusal === null) {
      deps.log.warn(REVOKE_PENDING_LOG, { sub, reason: 'unreachable', error });
      return 'pending';
    }
    deps.log.error('Google refused the revocation: the OAuth client configuration needs fixing', {
      alert: REVOKE_REFUSED_ALERT,
      sub,
      status: refusal.status,
      reason: refusal.error,
    });
    await deps.events.emit({
      type: 'revoke-failed',
      sub,
      ...appUserOf(connection),
      reason: refusal.error,
    });
    return 'refused';
  }
  const done = await deps.connections.markRevoked(sub, {
    now: now(),
    record: record(googleResult),
  });
  if (done.kind === 'refused') return done.refusal === 'missing' ? 'not-found' : 'already-revoked';
  deps.log.info('connection revoked', { sub, via: revoker.via, googleResult });
  await deps.events.emit({ type: 'revoked', sub, ...appUserOf(connection), reason: revoker.via });
  return 'revoked';
}

/**
 * Was this revoke-pending connection refused under the configuration we run with now? Then a run
 * does not call Google again: only a changed configuration (or an operator's revoke call) retries.
 */
export function refusedUnderCurrentConfig(
  config: RevocationDeps['config'],
  connection: Connection,
): boolean {
  return connection.revokeRefusal?.client === clientFingerprint(config);
}

/** Revokes the stored refresh token at Google; says what happened, throws when it failed. */
async function revokeAtGoogle(deps: RevocationDeps, connection: Connection): Promise<string> {
  if (connection.refreshToken === null) return 'no-token-stored';
  let refreshToken: string;
  try {
    refreshToken = openToken(
      await deps.tokenKeys(),
      connection.sub,
      'refreshToken',
      connection.refreshToken,
    );
  } catch (error) {
    deps.log.error(
      'stored refresh token cannot be decrypted; deleting it without revoking at Google',
      {
        sub: connection.sub,
        error,
      },
    );
    return 'undecryptable';
  }
  return revokeToken(deps.config.google.revokeUrl, refreshToken, deps.revokeOptions);
}

function permanentRefusal(deps: RevocationDeps, error: unknown, at: Date): RevokeRefusal | null {
  if (!(error instanceof OAuthResponseError) || classifyError(error).failure === 'transient')
    return null;
  return { error: error.error, status: error.status, client: clientFingerprint(deps.config), at };
}

/** What Google's revoke endpoint sees of our configuration: the client id and the endpoint. */
function clientFingerprint(config: RevocationDeps['config']): string {
  return createHash('sha256')
    .update(`${config.clientId}\n${config.google.revokeUrl}`)
    .digest('hex')
    .slice(0, 16);
}

function revocationRecord(input: {
  sub: string;
  revoker: Revoker;
  googleResult: string;
  now: Date;
}): SideRecord {
  return {
    path: `${REVOCATIONS}/${newDocumentId()}`,
    data: {
      sub: input.sub,
      at: input.now,
      via: input.revoker.via,
      actor: input.revoker.actor,
      googleResult: input.googleResult,
      expireAt: new Date(input.now.getTime() + REVOCATION_RECORD_DAYS * 86400e3),
    },
  };
}

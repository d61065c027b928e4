// The `risc` function: Google's Cross-Account Protection pushes Security Event Tokens here
// (docs/security.md#cross-account-protection). A valid token is answered 202 and acted on once
// (its `jti` claimed in `securityEvents/`, released again if the action fails so that Google's
// retry acts); anything else gets 400 and changes nothing. Every action is a guarded transition
// of the connection state machine, so it composes with what users and runs do:
//   tokens-revoked, token-revoked (our stored refresh token)  needs-reconnect at once, tokens destroyed
//   account-disabled, reason hijacking                       revoked at Google and destroyed
//   account-disabled, other reasons                          runs paused
//   account-enabled                                          runs resumed
//   sessions-revoked, account-credential-change-required     recorded, an event for the app
//   verification                                             logged with its state
import { createHash } from 'node:crypto';
import type { Firestore } from '@google-cloud/firestore';
import { Timestamp } from '@google-cloud/firestore';
import { AppError } from '../errors.ts';
import { appUserOf } from '../pubsub/events.ts';
import type { Runtime } from '../platform/runtime.ts';
import { revokeConnection, runtimeRevocationDeps } from '../revocation/revoke-connection.ts';
import { isAlreadyExists } from '../runs/ledger.ts';
import { CONNECTIONS } from '../store/connection/document.ts';
import { grpcConnectionBackend } from '../store/connection/grpc-backend.ts';
import {
  createConnectionRepository,
  type ConnectionRepository,
} from '../store/connection/repository.ts';
import {
  json,
  withErrorHandling,
  type Handler,
  type HttpRequest,
  type HttpResponse,
} from '../web/http.ts';
import { riscDiscovery, verifySecurityEvent, type SecurityEvent } from './security-event.ts';

export const SECURITY_EVENTS_COLLECTION = 'securityEvents';
/** Claims are kept past any delivery retry Google makes. */
const CLAIM_DAYS = 30;

type Outcome = 'applied' | 'unchanged' | 'unknown-user' | 'ignored';

export function riscHandler(runtime: Runtime): Handler {
  const discovery = riscDiscovery(runtime.config.google.riscConfigurationUrl);
  return withErrorHandling((request) => receive(runtime, discovery, request), runtime.log, {
    style: () => 'json',
    page: { appName: runtime.config.appName },
  });
}

async function receive(
  runtime: Runtime,
  discovery: ReturnType<typeof riscDiscovery>,
  request: HttpRequest,
): Promise<HttpResponse> {
  if (request.method !== 'POST')
    throw new AppError('method_not_allowed', 405, 'POST a security event token.');
  let keys: Awaited<ReturnType<typeof discovery>>;
  try {
    keys = await discovery();
  } catch (error) {
    throw new AppError('upstream_unavailable', 503, 'Cannot verify security events right now.', {
      cause: error,
    });
  }
  const event = await verifySecurityEvent(request.text, {
    clientIds: [runtime.config.clientId],
    ...keys,
  });
  const db = await runtime.firestore();
  const claim = db.collection(SECURITY_EVENTS_COLLECTION).doc(claimId(event.jti));
  const now = runtime.clock.now();
  try {
    await claim.create({
      kind: event.kind,
      type: event.type,
      sub: event.sub ?? null,
      receivedAt: Timestamp.fromMillis(now),
      expireAt: Timestamp.fromMillis(now + CLAIM_DAYS * 86400e3),
    });
  } catch (error) {
    if (!isAlreadyExists(error)) throw error;
    runtime.log.info('security event delivered again; already handled', { kind: event.kind });
    return json(202, {});
  }
  let outcome: Outcome;
  try {
    outcome = await act(runtime, db, event);
  } catch (error) {
    // Let Google's retry act: the claim goes, the answer is a 5xx.
    await claim.delete().catch(() => undefined);
    throw error;
  }
  await claim.update({ outcome });
  runtime.log.info('security event received', { kind: event.kind, sub: event.sub, outcome });
  return json(202, {});
}

async function act(runtime: Runtime, db: Firestore, event: SecurityEvent): Promise<Outcome> {
  const connections = createConnectionRepository(grpcConnectionBackend(db));
  const now = new Date(runtime.clock.now());
  const events = runtime.events();
  switch (event.kind) {
    case 'tokens-revoked':
    case 'token-revoked': {
      const sub =
        event.kind === 'tokens-revoked' ? event.sub : await subOfToken(db, event.tokenHash);
      if (sub === undefined) return 'unknown-user';
      const reason = `risc:${event.kind}`;
      const applied = await connections.markTokensRevokedByGoogle(sub, { reason, now });
      if (applied.kind === 'refused') return known(connections, sub);
      await events.emit({ type: 'needs-reconnect', sub, ...appUserOf(applied.connection), reason });
      return 'applied';
    }
    case 'account-disabled': {
      if (event.sub === undefined) return 'unknown-user';
      if (event.reason === 'hijacking') {
        const outcome = await revokeConnection(
          runtimeRevocationDeps(runtime, connections),
          event.sub,
          {
            via: 'risc',
            actor: 'google:account-disabled:hijacking',
          },
        );
        return outcome === 'not-found'
          ? 'unknown-user'
          : outcome === 'already-revoked'
            ? 'unchanged'
            : 'applied';
      }
      const applied = await connections.pauseRuns(event.sub, {
        reason: `account-disabled:${event.reason ?? 'unspecified'}`,
        now,
      });
      if (applied.kind === 'refused') return known(connections, event.sub);
      await events.emit({
        type: 'security-event',
        sub: event.sub,
        ...appUserOf(applied.connection),
        reason: `account-disabled:${event.reason ?? 'unspecified'}`,
      });
      return 'applied';
    }
    case 'account-enabled': {
      if (event.sub === undefined) return 'unknown-user';
      const applied = await connections.resumeRuns(event.sub, now);
      if (applied.kind === 'refused') return known(connections, event.sub);
      await events.emit({
        type: 'security-event',
        sub: event.sub,
        ...appUserOf(applied.connection),
        reason: 'account-enabled',
      });
      return 'applied';
    }
    case 'sessions-revoked':
    case 'account-credential-change-required': {
      if (event.sub === undefined) return 'unknown-user';
      const { connection } = await connections.read(event.sub);
      if (connection === undefined || connection.state === 'revoked') return 'unknown-user';
      await events.emit({
        type: 'security-event',
        sub: event.sub,
        ...appUserOf(connection),
        reason: event.kind,
      });
      return 'applied';
    }
    case 'verification':
      runtime.log.info('RISC verification event', { verificationState: event.state });
      return 'applied';
    default:
      runtime.log.warn('security event of an unknown type; ignored', {
        type: event.type.slice(0, 200),
      });
      return 'ignored';
  }
}

async function known(connections: ConnectionRepository, sub: string): Promise<Outcome> {
  const { connection } = await connections.read(sub);
  return connection === undefined ? 'unknown-user' : 'unchanged';
}

async function subOfToken(db: Firestore, hash: string | undefined): Promise<string | undefined> {
  if (hash === undefined) return undefined;
  const found = await db
    .collection(CONNECTIONS)
    .where('refreshTokenHash', '==', hash)
    .select()
    .limit(1)
    .get();
  return found.docs[0]?.id;
}

/** The claim's id: a digest (a jti is the sender's string, not a safe document id). */
function claimId(jti: string): string {
  return createHash('sha256').update(jti).digest('hex');
}

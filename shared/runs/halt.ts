// Stopping a run when our own side is broken, so that no user pays for it: the OAuth client
// (invalid_client, unauthorized_client, deleted_client) or the DPoP signing key in Cloud KMS
// (permission denied, version disabled or destroyed). No user is marked, every instance stops
// starting users, the operator is alerted once with an ERROR log carrying the stable field
// `alert` plus a `run-halted` event. The flag lives in `runs/{runId}/control/halt` (the run
// document is the dispatcher's alone).
import { Timestamp, type Firestore } from '@google-cloud/firestore';
import type { Logger } from '../log.ts';
import type { RunDeps } from './deps.ts';
import { expireAtFor, isAlreadyExists, runRef } from './ledger.ts';

/** Stable alert field values: grep logs or build a log-based alert on them. */
export const CLIENT_CONFIG_ALERT = 'oauth_client_invalid';
export const SIGNING_KEY_ALERT = 'dpop_signing_key_refused';

/** What broke, as the failure classes that halt a run name it (shared/retry/classify.ts). */
export type HaltCause = 'client_config' | 'signing_key';

const HALTS: Record<HaltCause, { readonly alert: string; readonly message: string }> = {
  client_config: {
    alert: CLIENT_CONFIG_ALERT,
    message: 'run halted: the OAuth client configuration is broken; no user was changed',
  },
  signing_key: {
    alert: SIGNING_KEY_ALERT,
    message: 'run halted: Cloud KMS refuses the DPoP signing key; no user was changed',
  },
};

export interface HaltSignal {
  halted: boolean;
  reason: string | undefined;
}

export function haltRef(db: Firestore, runId: string) {
  return runRef(db, runId).collection('control').doc('halt');
}

export async function readHalt(db: Firestore, runId: string): Promise<HaltSignal> {
  const snapshot = await haltRef(db, runId).get();
  return snapshot.exists
    ? { halted: true, reason: String(snapshot.get('reason')) }
    : { halted: false, reason: undefined };
}

/** Records the halt (first caller wins) and alerts once. */
export async function haltRun(
  deps: Pick<RunDeps, 'db' | 'events' | 'runtime'>,
  halt: {
    readonly runId: string;
    readonly cause: HaltCause;
    readonly reason: string;
    readonly signal: HaltSignal;
    readonly log: Logger;
  },
): Promise<void> {
  const { db, events } = deps;
  const { runId, cause, reason, signal, log } = halt;
  const now = deps.runtime.clock.now();
  signal.halted = true;
  signal.reason = reason;
  try {
    await haltRef(db, runId).create({
      cause,
      reason,
      at: Timestamp.fromMillis(now),
      expireAt: expireAtFor(now),
    });
  } catch (error) {
    if (isAlreadyExists(error)) return;
    throw error;
  }
  log.error(HALTS[cause].message, { alert: HALTS[cause].alert, runId, reason });
  await events.emit({ type: 'run-halted', runId, reason });
}

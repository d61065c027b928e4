// The only writer of `connections/{sub}`. Every change is a transition of ./transitions.ts,
// applied as compare-and-set: the document is read with its version (Firestore's update time),
// the transition decides, and the write carries the precondition "still that version" (or "still
// absent"). When another writer got there first, the write fails, the document is read again and
// the transition decides again, so a decision is never written over a newer one
// (docs/architecture.md#connection-states). The same code runs over REST (the request path) and
// gRPC (the runners): a backend only reads, and writes with a precondition.
import { CONNECTION_CONTENDED, OperationError } from '../../errors.ts';
import { jobSettingsDeletion } from '../job-settings.ts';
import type { Connection, Lease, RevokeRefusal } from './document.ts';
import {
  consentStored,
  leaseReleased,
  leaseRenewed,
  leaseTaken,
  needsReconnect,
  revoked,
  revokePending,
  runOutcomeRecorded,
  holds,
  settingsChanged,
  tokensResealed,
  securityTokensRevoked,
  runsPaused,
  runsResumed,
  type SecurityRefusal,
  type ConsentInput,
  type Reseal,
  type ConsentRefusal,
  type Decision,
  type ReconnectNeed,
  type RunOutcome,
  type SettingsRefusal,
} from './transitions.ts';

/** Firestore's update time of the version read, opaque to everyone but its backend. */
export type Version = string & { readonly __version: unique symbol };

export interface Snapshot {
  readonly connection: Connection | undefined;
  /** undefined: the document does not exist. */
  readonly version: Version | undefined;
  /** When the document was last written (Firestore's update time); undefined: not known. */
  readonly writtenAt?: Date;
}

/**
 * Another document written in the same commit, all or nothing: created (a ledger entry, a
 * revocation record: it must not exist yet), set (the user's job settings) or deleted (the job
 * settings, on revoke).
 */
export type SideRecord =
  | { readonly path: string; readonly data: object; readonly op?: 'create' }
  | {
      readonly path: string;
      readonly data: object;
      readonly op: 'set';
      /** Only these fields (each a path of field names) are written; the rest is kept. */
      readonly mergeFields?: readonly (readonly string[])[];
      /**
       * The side document as read: absent, or at this update time. Written over anything else,
       * the whole commit fails as a conflict (and is decided again from fresh reads).
       */
      readonly expect?: { readonly updateTime: string | undefined };
    }
  | { readonly path: string; readonly op: 'delete' };

export interface GuardedWrite {
  readonly connection: Connection;
  /** The version the decision was made on; undefined: the document must not exist. */
  readonly expected: Version | undefined;
  /** Written with the connection, all or nothing. */
  readonly alongside: readonly SideRecord[];
}

export type WriteAnswer =
  | { readonly kind: 'written'; readonly version: Version }
  /** The connection changed since it was read (its update time is another). */
  | { readonly kind: 'conflict' }
  /**
   * A document the commit creates exists already: the connection (when it was to be created),
   * or a side record (another delivery recorded this user first). The repository tells which.
   */
  | { readonly kind: 'exists' };

export interface ConnectionBackend {
  read(sub: string): Promise<Snapshot>;
  write(request: GuardedWrite): Promise<WriteAnswer>;
}

/** A delivery's hold on a user: what it leased, under which token, at which version. */
export interface Held {
  readonly connection: Connection;
  readonly version: Version;
  readonly holder: string;
}

export type Applied<Refusal extends string> =
  | {
      readonly kind: 'written';
      readonly connection: Connection;
      readonly version: Version;
      /** The document the decision was made on. */
      readonly previous: Connection | undefined;
    }
  | { readonly kind: 'refused'; readonly refusal: Refusal; readonly snapshot: Snapshot };

/** Compare-and-set attempts before giving up on a hot document (runTransaction makes 5). */
const ATTEMPTS = 5;

export interface ConnectionRepository {
  read(sub: string): Promise<Snapshot>;
  /** `alongside`: the app user's mapping, written with the consent (../app-users.ts). */
  storeConsent(
    input: ConsentInput,
    alongside?: readonly SideRecord[],
  ): Promise<Applied<ConsentRefusal>>;
  /** `seen` is a read made earlier (the batch's bulk read); its version still guards the write. */
  takeLease(
    sub: string,
    lease: { lease: Lease; now: Date; seen?: Snapshot },
  ): Promise<Applied<'not-runnable' | 'busy'>>;
  /**
   * Does the run still hold the user, in the state it leased? (right before a side effect). A
   * settings change keeps the lease; a consent or a revoke takes it away.
   */
  stillHeld(held: Held): Promise<boolean>;
  recordRunOutcome(
    held: Held,
    input: Omit<RunOutcome, 'holder'>,
    alongside?: readonly SideRecord[],
  ): Promise<Applied<'superseded'>>;
  markNeedsReconnect(
    held: Held,
    input: Omit<ReconnectNeed, 'holder'>,
    alongside?: readonly SideRecord[],
  ): Promise<Applied<'superseded'>>;
  /** The holder is alive: its lease lasts a while longer (until `lease.until`). */
  renewLease(held: Held, lease: Lease): Promise<Applied<'superseded'>>;
  releaseLease(held: Held): Promise<Applied<'superseded'>>;
  /** Google's security events (shared/risc/): tokens revoked, runs paused or resumed. */
  markTokensRevokedByGoogle(
    sub: string,
    input: { reason: string; now: Date },
  ): Promise<Applied<SecurityRefusal>>;
  pauseRuns(sub: string, input: { reason: string; now: Date }): Promise<Applied<SecurityRefusal>>;
  resumeRuns(sub: string, now: Date): Promise<Applied<SecurityRefusal | 'not-paused'>>;
  /** Key rotation: the same tokens, sealed under the new primary key (if still as read). */
  resealTokens(sub: string, input: Reseal, seen?: Snapshot): Promise<Applied<'changed'>>;
  /** The user's job settings document written (or deleted) with the guard on the connection. */
  changeSettings(
    sub: string,
    input: { now: Date; record: SideRecord },
  ): Promise<Applied<SettingsRefusal>>;
  markRevokePending(
    sub: string,
    input: { now: Date; refusal: RevokeRefusal | null; record: SideRecord },
  ): Promise<Applied<'missing' | 'revoked'>>;
  markRevoked(
    sub: string,
    input: { now: Date; record: SideRecord },
  ): Promise<Applied<'missing' | 'revoked'>>;
}

export function createConnectionRepository(backend: ConnectionBackend): ConnectionRepository {
  /**
   * Read (or start from `seen`), decide, write under the precondition; on a conflict read again
   * and decide again. A side record that exists already (the ledger entry of a delivery that
   * finished this user first) is dropped and the connection written alone: first record wins.
   */
  async function apply<Refusal extends string>(
    sub: string,
    decide: (current: Connection | undefined) => Decision<Refusal>,
    options: { seen?: Snapshot; alongside?: readonly SideRecord[] } = {},
  ): Promise<Applied<Refusal>> {
    let snapshot = options.seen ?? (await backend.read(sub));
    let alongside = options.alongside ?? [];
    for (let attempt = 1; ; attempt += 1) {
      const decision = decide(snapshot.connection);
      if ('refuse' in decision) return { kind: 'refused', refusal: decision.refuse, snapshot };
      const answer = await backend.write({
        connection: decision.write,
        expected: snapshot.version,
        alongside,
      });
      if (answer.kind === 'written')
        return {
          kind: 'written',
          connection: decision.write,
          version: answer.version,
          previous: snapshot.connection,
        };
      if (attempt >= ATTEMPTS)
        throw new OperationError(CONNECTION_CONTENDED, `connection ${sub} kept changing`);
      const fresh = await backend.read(sub);
      // The connection still as read: what existed was a created side record. Keep the first.
      if (answer.kind === 'exists' && fresh.version === snapshot.version)
        alongside = alongside.filter((record) => record.op === 'set' || record.op === 'delete');
      snapshot = fresh;
    }
  }

  /** A run's write starts from what it holds: any write since then is someone else's. */
  const heldSnapshot = (held: Held): Snapshot => ({
    connection: held.connection,
    version: held.version,
  });

  return {
    read: (sub) => backend.read(sub),
    storeConsent: (input, alongside = []) =>
      apply(input.sub, (current) => consentStored(current, input), { alongside }),
    takeLease: (sub, { lease, now, seen }) =>
      apply(sub, (current) => leaseTaken(current, lease, now), seen ? { seen } : {}),
    async stillHeld(held) {
      const { connection } = await backend.read(held.connection.sub);
      return holds(connection, held.holder) && connection.state === held.connection.state;
    },
    recordRunOutcome: (held, input, alongside = []) =>
      apply(
        held.connection.sub,
        (current) => runOutcomeRecorded(current, { ...input, holder: held.holder }),
        { seen: heldSnapshot(held), alongside },
      ),
    markNeedsReconnect: (held, input, alongside = []) =>
      apply(
        held.connection.sub,
        (current) => needsReconnect(current, { ...input, holder: held.holder }),
        { seen: heldSnapshot(held), alongside },
      ),
    renewLease: (held, lease) =>
      apply(held.connection.sub, (current) => leaseRenewed(current, lease), {
        seen: heldSnapshot(held),
      }),
    releaseLease: (held) =>
      apply(held.connection.sub, (current) => leaseReleased(current, held.holder), {
        seen: heldSnapshot(held),
      }),
    markTokensRevokedByGoogle: (sub, input) =>
      apply(sub, (current) => securityTokensRevoked(current, input)),
    pauseRuns: (sub, input) => apply(sub, (current) => runsPaused(current, input)),
    resumeRuns: (sub, now) => apply(sub, (current) => runsResumed(current, now)),
    resealTokens: (sub, input, seen) =>
      apply(sub, (current) => tokensResealed(current, input), seen ? { seen } : {}),
    changeSettings: (sub, { now, record }) =>
      apply(sub, (current) => settingsChanged(current, now), { alongside: [record] }),
    // A revocation also deletes the user's job settings, in the same commit.
    markRevokePending: (sub, { now, refusal, record }) =>
      apply(sub, (current) => revokePending(current, { now, refusal }), {
        alongside: [record, jobSettingsDeletion(sub)],
      }),
    markRevoked: (sub, { now, record }) =>
      apply(sub, (current) => revoked(current, now), {
        alongside: [record, jobSettingsDeletion(sub)],
      }),
  };
}

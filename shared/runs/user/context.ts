// One user in one delivery: what every step of the user's run shares (see ../process-user.ts).
// The steps take this object instead of long parameter lists; the time spent queueing for a
// Google lane is counted here, so a user's duration is the time of work on that user alone.
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../log.ts';
import { appUserOf } from '../../pubsub/events.ts';
import type { BackoffOptions } from '../../retry/backoff.ts';
import { isSlowDown, type FailureClass } from '../../retry/classify.ts';
import type { RunDeps } from '../deps.ts';
import type { ConnectionRepository } from '../../store/connection/repository.ts';
import type { GroupCommitter } from '../group-commit.ts';
import type { HaltSignal } from '../halt.ts';
import type { UserOutcome } from '../ledger.ts';
import type { RunPeriod } from '../run-id.ts';
import type { Connection } from '../../store/connection/document.ts';
import type { JobSettingsValues } from '../../store/job-settings.ts';
import type { JobRecord } from './jobs-step.ts';

/** What a batch shares between its users. */
export interface UserRunContext {
  readonly period: RunPeriod;
  readonly batchId: string;
  readonly halt: HaltSignal;
  readonly log: Logger;
  /** Shares commits between this batch's users; without it every user commits alone. */
  readonly commits?: GroupCommitter;
  /** The connection repository the batch writes through (guarded transitions). */
  readonly connections: ConnectionRepository;
  /** The app's job settings of a user (read in bulk by the batch). */
  readonly jobSettings: (connection: Connection) => Promise<JobSettingsValues>;
  /** This delivery's attempt (1: the first); a later one may repeat effects of an earlier. */
  readonly attempt: number;
  /**
   * When Firestore created the run's document (ms, by the clock that times every write): a
   * connection last written before it was started by no delivery of the run, since taking a
   * user's lease is a write.
   */
  readonly runCreatedAt?: number;
  /**
   * When the period's latest re-run began (ms), if it was re-run: work before it may have had
   * effects, and a job that failed for good before it is due again (docs/operations.md#re-running-a-run).
   */
  readonly rerunSince?: number;
}

export interface UserResult {
  readonly sub: string;
  readonly appUserId: string | null;
  readonly outcome: UserOutcome;
  readonly failure: FailureClass | null;
  readonly reason: string | null;
  readonly effect: string | null;
  /** Each job's outcome in this run, by name (null: the user's jobs were not reached). */
  readonly jobs: Readonly<Record<string, JobRecord>> | null;
  readonly durationMs: number;
}

export interface OutcomeDetail {
  readonly failure?: FailureClass;
  readonly reason?: string;
  readonly effect?: string;
  readonly jobs?: Readonly<Record<string, JobRecord>>;
}

export class UserWork {
  readonly deps: RunDeps;
  readonly run: UserRunContext;
  readonly sub: string;
  readonly log: Logger;
  readonly started: number;
  /**
   * No new attempt of anything starts after this: USER_BUDGET_SECONDS from when the user's work
   * began (the lease taken; see startWork).
   */
  deadline: number;
  /** Gives the lookahead slot back once the user holds a Google lane (idempotent). */
  leaveLookahead: () => void = () => {};
  /** This acquisition's lease token: unique per user and delivery. */
  readonly holder = randomUUID();
  /** The app's id of this user, once the connection is read (events carry it). */
  appUser: string | null = null;
  /** Google asked this user's calls to slow down (a 429 or a rate-limit reason). */
  slowedDown = false;
  /**
   * The lease was not free when this delivery took it (another holder had it, lapsed or let
   * go): that holder may have had effects it never recorded (set by ./lease-step.ts).
   */
  leaseTakenOver = false;
  /** Another delivery held the user when this one first tried (./lease-step.ts). */
  waitedForLease = false;
  /**
   * The connection was written since the run began, before this delivery's lease: an earlier
   * delivery may have started the user, even if a consent took its lease away since (set by
   * ./lease-step.ts).
   */
  writtenDuringRun = true;
  private queuedMs = 0;

  constructor(deps: RunDeps, run: UserRunContext, sub: string) {
    this.deps = deps;
    this.run = run;
    this.sub = sub;
    this.log = run.log.child({ sub });
    this.started = deps.runtime.clock.now();
    this.deadline = this.started + deps.runtime.config.runs.userBudgetSeconds * 1000;
  }

  now(): number {
    return this.deps.runtime.clock.now();
  }

  /** The budget starts now: time spent waiting for another holder's lease was not work. */
  startWork(): void {
    const now = this.now();
    this.addQueueTime(now - this.started);
    this.deadline = now + this.budgetMs();
  }

  budgetMs(): number {
    return this.deps.runtime.config.runs.userBudgetSeconds * 1000;
  }

  /** Time spent waiting for a Google lane: queueing, not work on this user. */
  addQueueTime(ms: number): void {
    this.queuedMs += ms;
  }

  result(outcome: UserOutcome, detail: OutcomeDetail = {}): UserResult {
    return {
      sub: this.sub,
      appUserId: this.appUser,
      outcome,
      failure: detail.failure ?? null,
      reason: detail.reason ?? null,
      effect: detail.effect ?? null,
      jobs: detail.jobs ?? null,
      durationMs: this.now() - this.started - this.queuedMs,
    };
  }

  /** `{ appUserId }` for events, when the connection names the app's user. */
  appUserId(): { appUserId?: string } {
    return appUserOf({ appUserId: this.appUser });
  }

  /** Backoff inside this user's budget, with the run's injectable randomness and sleep. */
  backoff(): BackoffOptions {
    const { deps } = this;
    return {
      clock: deps.runtime.clock,
      deadline: this.deadline,
      random: deps.random,
      sleep: deps.sleep,
      baseMs: deps.backoffBaseMs,
      onRetry: (retry) => {
        // Google says the project calls too fast: this instance opens fewer lanes.
        if (!isSlowDown(retry)) return;
        this.slowedDown = true;
        deps.limiter.slowDown();
      },
    };
  }
}

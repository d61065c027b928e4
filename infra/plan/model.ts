// One simulated daily run (docs/scale.md#the-model): the dispatcher pages the connections and
// publishes one work message per page, Pub/Sub pushes them (./push.ts) to the worker on Cloud Run,
// which starts instances (cold start, --max-instances, requests pending at most max(10 s, 3.5 ×
// the start-up time) before a 429), and each instance runs the pipelined lanes of
// docs/architecture.md#pipelined-lanes: a user takes its lease while at most WORKER_CONCURRENCY
// others wait for a lane, uses the instance's CPU, refreshes and uploads inside its Google lane
// (quota-limited; a 429 backs off with the workers' own full-jitter backoff within the user's
// budget, then the user is left for redelivery), and writes once after leaving the lane. The
// ledger makes every user done at most once. Usage is counted for the cost estimate.
import { backoffDelay } from '../../shared/retry/backoff.ts';
import { secretKeysOf } from '../../shared/settings/secrets.ts';
import { EventQueue, Fifo, PerSecond, TokenBucket, unitHash } from './events.ts';
import type { PlanInputs } from './inputs.ts';
import { PushSubscription, type PushFigures, type WorkMessage } from './push.ts';

/** Cloud Run holds a request for an instance this long at least (about-instance-autoscaling). */
const MIN_PENDING_MS = 10_000;
/** The dispatcher's writes per page: the dispatched record and the cursor on the run. */
const DISPATCHER_WRITES_PER_PAGE = 2;
/**
 * Firestore's 500/50/5 rule: 500 operations/s to start, 50% more every 5 minutes. Checked against
 * writes: the run's go into a new ledger collection and, in dispatch order, a narrow key range.
 */
const RAMP_START_OPS = 500;
const RAMP_STEP_S = 300;

export type Api = 'token' | 'drive';

export interface CallFigures {
  sent: number;
  accepted: number;
  refused: number;
}

export interface DispatchFigures {
  pages: number;
  /** Users published in a work message (a page published again after a timeout counts twice). */
  dispatched: number;
  /** Tick deliveries across all shards (a retry after the timeout is one more). */
  ticks: number;
  /** A shard whose redelivered tick found the lease held: the current code acknowledges it. */
  stalled: number;
  timeouts: number;
  /** Invocations that handed the run over past their slice (a tick of their own resumes it). */
  handovers: number;
  /** When the last page was published. */
  doneMs: number;
  billableMs: number;
}

export interface PlanResult {
  readonly inputs: PlanInputs;
  /** Tick to the last user's final write (or to the last answer, when users are left undone). */
  readonly durationMs: number;
  /** Users whose job ran exactly once, more than once, and never. */
  readonly once: number;
  readonly twice: number;
  readonly never: number;
  /** Users of dead-lettered messages, and users the worker dead-lettered at the final attempt. */
  readonly deadLetteredUsers: number;
  readonly dispatch: DispatchFigures;
  readonly push: PushFigures;
  readonly cloudRun: {
    readonly peakInstances: number;
    readonly starts: number;
    /** Deliveries Cloud Run answered 429: no instance within the pending time. */
    readonly refused: number;
    readonly deliveries: number;
    /** Deliveries the worker answered with a retry (users left pending). */
    readonly redelivered: number;
    readonly billableMs: number;
    readonly cpuBusyMs: number;
    readonly slowestDeliveryMs: number;
    /** Deliveries still running at the worker's timeout (answered 504). */
    readonly timedOut: number;
    readonly pendingTimeoutMs: number;
  };
  readonly calls: Readonly<Record<Api, CallFigures>>;
  /** Accepted Google calls per second, all APIs: the busiest second, and sent (429s included). */
  readonly peakCallsPerSecond: number;
  readonly peakSentPerSecond: number;
  /** Drive calls / Drive quota, less the quota's burst: no run can be shorter. */
  readonly quotaFloorMs: number;
  readonly firestore: {
    readonly reads: number;
    readonly writes: number;
    readonly deletes: number;
    readonly peakWritesPerSecond: number;
    /** The first second whose writes are above the 500/50/5 ramp, if any. */
    readonly rampExceeded: { readonly second: number; readonly count: number } | undefined;
  };
  readonly kmsCalls: number;
  readonly secretAccesses: number;
  /** Billable Pub/Sub bytes (at least 1000 per publish and per push). */
  readonly pubsubBytes: number;
}

interface Instance {
  ready: boolean;
  requests: number;
  busySince: number;
  cpuFreeAt: number;
  lanes: number;
  laneLimit: number;
  lastDecrease: number;
  readonly laneWaiters: Fifo<() => void>;
  lookahead: number;
  readonly lookaheadWaiters: Fifo<() => void>;
}

interface PendingRequest {
  readonly message: WorkMessage;
  readonly answer: (ack: boolean) => void;
  placed: boolean;
}

type UserEnd = 'done' | 'skipped' | 'pending';

/** Bytes of one work message: its JSON (about 24 per sub) and attributes; pushed as base64. */
function messageBytes(users: number): { publish: number; push: number } {
  const data = 80 + 24 * users;
  return {
    publish: Math.max(1000, data + 40),
    push: Math.max(1000, Math.ceil((data * 4) / 3) + 400),
  };
}

export function simulateRun(inputs: PlanInputs): PlanResult {
  const queue = new EventQueue();
  const n = inputs.users;
  const effects = new Uint8Array(n);
  const ledger = new Uint8Array(n);
  const leased = new Uint8Array(n);
  /** A refreshed access token outlives the run: a user left for redelivery keeps it (sealed). */
  const refreshed = new Uint8Array(n);
  const buckets: Record<Api, TokenBucket> = {
    token: new TokenBucket(inputs.tokenQuotaPerSecond),
    drive: new TokenBucket(inputs.quotaPerSecond),
  };
  const calls: Record<Api, CallFigures> = {
    token: { sent: 0, accepted: 0, refused: 0 },
    drive: { sent: 0, accepted: 0, refused: 0 },
  };
  const accepted = new PerSecond();
  const sent = new PerSecond();
  const firestoreWrites = new PerSecond();
  const fs = { reads: 0, writes: 0, deletes: 0 };
  const firestore = (reads: number, writes: number, deletes = 0) => {
    fs.reads += reads;
    fs.writes += writes;
    fs.deletes += deletes;
    firestoreWrites.add(queue.now, writes);
  };
  const usage = { kms: 0, secrets: 0, pubsubBytes: 0, deadLetteredUsers: 0, lastUserDone: 0 };
  const latencyOf: Record<Api, number> = { token: inputs.latency, drive: inputs.driveLatency };
  const pendingTimeoutMs = Math.max(MIN_PENDING_MS, 3.5 * inputs.coldStartMs);
  const workerSecrets = secretKeysOf('worker').length;
  const dispatcherSecrets = secretKeysOf('dispatcher').length;

  // --- Cloud Run: the worker's instances -------------------------------------------------------
  const instances: Instance[] = [];
  const pending = new Fifo<PendingRequest>();
  let pendingCount = 0;
  let busyRequests = 0;
  const run = {
    refused: 0,
    deliveries: 0,
    redelivered: 0,
    billableMs: 0,
    cpuBusyMs: 0,
    slowestDeliveryMs: 0,
    starts: 0,
    timedOut: 0,
  };

  const startInstance = () => {
    const instance: Instance = {
      ready: false,
      requests: 0,
      busySince: queue.now,
      cpuFreeAt: 0,
      lanes: 0,
      laneLimit: inputs.concurrency,
      lastDecrease: -Infinity,
      laneWaiters: new Fifo(),
      lookahead: 0,
      lookaheadWaiters: new Fifo(),
    };
    instances.push(instance);
    run.starts += 1;
    usage.secrets += workerSecrets; // --set-secrets resolves each one as the instance starts
    usage.kms += 1 + (inputs.dpop === 'kms' ? 1 : 0); // keyset unwrap (+ DPoP public key)
    const startMs = inputs.coldStartMs + inputs.kmsMs;
    run.billableMs += startMs; // start-up is billed
    queue.after(startMs, () => {
      instance.ready = true;
      drainPending();
    });
  };

  const scale = () => {
    const demand = busyRequests + pendingCount;
    const wanted = Math.ceil(demand / (inputs.autoscaleTarget * inputs.deliveries));
    while (instances.length < Math.min(wanted, inputs.maxInstances)) startInstance();
  };

  const freeInstance = (): Instance | undefined => {
    let best: Instance | undefined;
    for (const instance of instances)
      if (instance.ready && instance.requests < inputs.deliveries)
        if (best === undefined || instance.requests < best.requests) best = instance;
    return best;
  };

  const drainPending = () => {
    for (let instance = freeInstance(); instance && pending.length > 0; instance = freeInstance()) {
      const request = pending.shift()!;
      if (request.placed) continue;
      request.placed = true;
      pendingCount -= 1;
      deliver(instance, request.message, request.answer);
    }
  };

  const arrive = (message: WorkMessage, answer: (ack: boolean) => void) => {
    usage.pubsubBytes += messageBytes(message.end - message.first).push;
    const instance = pending.length === 0 ? freeInstance() : undefined;
    if (instance) {
      deliver(instance, message, answer);
      scale();
      return;
    }
    const request: PendingRequest = { message, answer, placed: false };
    pending.push(request);
    pendingCount += 1;
    scale();
    queue.after(pendingTimeoutMs, () => {
      if (request.placed) return;
      request.placed = true;
      pendingCount -= 1;
      run.refused += 1;
      answer(false);
    });
  };

  // --- The worker: one delivery of a batch -----------------------------------------------------
  const deliver = (instance: Instance, message: WorkMessage, answer: (ack: boolean) => void) => {
    run.deliveries += 1;
    if (instance.requests === 0) instance.busySince = queue.now;
    instance.requests += 1;
    busyRequests += 1;
    const started = queue.now;
    const final = message.attempts >= inputs.maxDeliveryAttempts;
    let left = 0;
    let pendingUsers = 0;
    let answered = false;
    /** The request ends: the slot is free for another push. */
    const respond = (ack: boolean) => {
      answered = true;
      instance.requests -= 1;
      busyRequests -= 1;
      if (instance.requests === 0) run.billableMs += queue.now - instance.busySince;
      run.slowestDeliveryMs = Math.max(run.slowestDeliveryMs, queue.now - started);
      answer(ack);
      drainPending();
    };
    // Past its timeout Cloud Run answers 504 (a retry); the handler's users still run to the end.
    queue.after(inputs.workerTimeoutS * 1000, () => {
      if (answered) return;
      run.timedOut += 1;
      respond(false);
    });
    const finish = () =>
      queue.after(inputs.firestoreMs, () => {
        // The batch summary, then the answer: ack, or a retry while users are pending.
        const summaryWrites = Math.max(0, inputs.writesPerBatch - DISPATCHER_WRITES_PER_PAGE);
        firestore(0, summaryWrites, inputs.deletesPerBatch);
        if (final) usage.deadLetteredUsers += pendingUsers;
        if (answered) return;
        const ack = pendingUsers === 0 || final;
        if (!ack) run.redelivered += 1;
        respond(ack);
      });
    // The delivery count, provenance and the batch's bulk reads: one round trip, in parallel.
    queue.after(inputs.firestoreMs, () => {
      firestore(inputs.readsPerBatch, 0);
      for (let user = message.first; user < message.end; user++) if (ledger[user] === 0) left += 1;
      if (left === 0) return finish();
      const ended = (end: UserEnd) => {
        if (end === 'pending') pendingUsers += 1;
        left -= 1;
        if (left === 0) finish();
      };
      for (let user = message.first; user < message.end; user++)
        if (ledger[user] === 0)
          withLookahead(instance, () => processUser(instance, user, message.attempts, ended));
    });
  };

  const withLookahead = (instance: Instance, fn: () => void) => {
    if (instance.lookahead < inputs.concurrency) {
      instance.lookahead += 1;
      fn();
    } else instance.lookaheadWaiters.push(fn);
  };
  const leaveLookahead = (instance: Instance) => {
    instance.lookahead -= 1;
    const next = instance.lookaheadWaiters.shift();
    if (next) {
      instance.lookahead += 1;
      next();
    }
  };
  const withLane = (instance: Instance, fn: () => void) => {
    if (instance.lanes < Math.floor(instance.laneLimit)) {
      instance.lanes += 1;
      fn();
    } else instance.laneWaiters.push(fn);
  };
  /** Lets waiting users into the lanes the limit allows. */
  const fillLanes = (instance: Instance) => {
    while (instance.lanes < Math.floor(instance.laneLimit)) {
      const next = instance.laneWaiters.shift();
      if (!next) break;
      instance.lanes += 1;
      next();
    }
  };
  const leaveLane = (instance: Instance) => {
    instance.lanes -= 1;
    fillLanes(instance);
  };
  /** Adaptive lanes: one more per lane's worth of successes; halved on a 429, once per round. */
  const adaptLanes = (instance: Instance, ok: boolean) => {
    if (inputs.lanes !== 'adaptive') return;
    if (ok) {
      instance.laneLimit = Math.min(
        inputs.concurrency,
        instance.laneLimit + 1 / instance.laneLimit,
      );
      fillLanes(instance);
    } else if (queue.now - instance.lastDecrease >= inputs.latency) {
      instance.laneLimit = Math.max(1, instance.laneLimit / 2);
      instance.lastDecrease = queue.now;
    }
  };
  const countCall = (api: Api, ok: boolean) => {
    calls[api].sent += 1;
    sent.add(queue.now);
    if (ok) {
      calls[api].accepted += 1;
      accepted.add(queue.now);
    } else calls[api].refused += 1;
  };

  /** One Google call with the workers' backoff on 429, within the user's budget. */
  const callGoogle = (
    instance: Instance,
    api: Api,
    coordinates: { user: number; salt: number; deadline: number },
    then: (ok: boolean) => void,
  ) => {
    const attempt = (tries: number) => {
      const ok = buckets[api].take(queue.now);
      countCall(api, ok);
      const jitter = unitHash(inputs.seed, coordinates.user, coordinates.salt, tries);
      queue.after(latencyOf[api] * (0.5 + jitter), () => {
        adaptLanes(instance, ok);
        if (ok) return then(true);
        const random = () => unitHash(inputs.seed + 1, coordinates.user, coordinates.salt, tries);
        const waitMs = backoffDelay(tries, undefined, { random });
        if (queue.now + waitMs >= coordinates.deadline) return then(false);
        queue.after(waitMs, () => attempt(tries + 1));
      });
    };
    attempt(0);
  };

  const processUser = (
    instance: Instance,
    user: number,
    delivery: number,
    ended: (end: UserEnd) => void,
  ) => {
    if (ledger[user] === 1) {
      leaveLookahead(instance);
      return ended('skipped');
    }
    if (leased[user] === 1) {
      // Another delivery holds the user's lease: wait for it, then look at the ledger again.
      queue.after(1000, () => processUser(instance, user, delivery, ended));
      return;
    }
    leased[user] = 1;
    const leasedAt = queue.now;
    const deadline = queue.now + inputs.userBudgetS * 1000;
    /** The lease's renewals while the user was worked on: one guarded write each. */
    const renewals = () => Math.floor((queue.now - leasedAt) / (inputs.leaseRenewS * 1000));
    const leftPending = () => {
      leased[user] = 0;
      leaveLane(instance);
      firestore(inputs.readsPerUser - 1, 2 + renewals()); // its reads, the lease and its release
      ended('pending');
    };
    queue.after(inputs.firestoreMs, () => {
      // The lease is written; wait for a Google lane.
      withLane(instance, () => {
        leaveLookahead(instance);
        const cpuStart = Math.max(queue.now, instance.cpuFreeAt);
        const cpuMs = inputs.cpuMsPerUser / inputs.vcpu;
        instance.cpuFreeAt = cpuStart + cpuMs;
        run.cpuBusyMs += cpuMs;
        const signs = inputs.dpop === 'kms' && refreshed[user] === 0 ? 1 : 0;
        const signMs = signs * inputs.kmsMs;
        usage.kms += signs;
        const refresh = (then: (ok: boolean) => void) =>
          refreshed[user] === 1
            ? then(true)
            : callGoogle(instance, 'token', { user, salt: delivery * 2, deadline }, (ok) => {
                if (ok) refreshed[user] = 1;
                then(ok);
              });
        queue.at(instance.cpuFreeAt + signMs, () =>
          refresh((ok) => {
            if (!ok) return leftPending();
            // The read that proves the run still holds the user, then the upload.
            queue.after(inputs.firestoreMs, () =>
              callGoogle(
                instance,
                'drive',
                { user, salt: delivery * 2 + 1, deadline },
                (uploaded) => {
                  if (!uploaded) return leftPending();
                  effects[user] = Math.min(255, effects[user]! + 1);
                  leaveLane(instance);
                  queue.after(inputs.firestoreMs, () => {
                    // One commit: the connection update and the ledger record.
                    ledger[user] = 1;
                    leased[user] = 0;
                    const writes = inputs.writesPerUser + renewals();
                    firestore(inputs.readsPerUser - 1, writes, inputs.deletesPerUser);
                    usage.lastUserDone = queue.now;
                    ended('done');
                  });
                },
              ),
            );
          }),
        );
      });
    });
  };

  // --- Pub/Sub ---------------------------------------------------------------------------------
  const push = new PushSubscription(queue, inputs, arrive, (message) => {
    for (let user = message.first; user < message.end; user++)
      if (ledger[user] === 0) usage.deadLetteredUsers += 1;
  });

  // --- The dispatcher: shards page in parallel, each with its own cursor and lease --------------
  const dispatch: DispatchFigures = {
    pages: 0,
    dispatched: 0,
    ticks: 0,
    stalled: 0,
    timeouts: 0,
    handovers: 0,
    doneMs: 0,
    billableMs: 0,
  };
  const dispatchShard = (first: number, end: number) => {
    let cursor = first;
    let leaseUntil = 0;
    const attempt = (tick: number, resumed = false) => {
      dispatch.ticks += 1;
      const began = queue.now;
      // The first tick starts an instance; the request's timeout runs from when it is taken.
      const coldMs = tick === 1 && !resumed ? inputs.coldStartMs + inputs.kmsMs : 0;
      const deadline = began + coldMs + inputs.dispatchTimeoutS * 1000;
      if (tick > 1 && queue.now < leaseUntil) {
        // The redelivered tick finds the run dispatching under a live lease: acknowledged.
        dispatch.stalled += 1;
        return;
      }
      let stopped = false;
      const stop = (timedOut: boolean) => {
        if (stopped) return;
        stopped = true;
        dispatch.billableMs += queue.now - began;
        if (!timedOut) return;
        dispatch.timeouts += 1;
        if (tick >= inputs.maxDeliveryAttempts) return;
        const waitS = Math.min(inputs.retryMaxS, inputs.retryMinS * 2 ** (tick - 1));
        queue.after(waitS * 1000, () => attempt(tick + 1));
      };
      queue.at(deadline, () => stop(cursor < end));
      // The run's claim: a transaction (a read and a commit).
      const startMs = coldMs + 2 * inputs.firestoreMs;
      if (tick === 1 && !resumed) {
        usage.kms += 1;
        usage.secrets += dispatcherSecrets;
      }
      let prefetched = false;
      const page = () => {
        if (stopped) return;
        if (cursor >= end) {
          firestore(0, 1); // status: dispatched
          dispatch.doneMs = Math.max(dispatch.doneMs, queue.now);
          return stop(false);
        }
        const size = Math.min(inputs.batchSize, end - cursor);
        const pageFirst = cursor;
        const queryMs = inputs.firestoreMs + inputs.queryMsPerDoc * size;
        // The page query (read while the previous page was recorded and published, so only what
        // outlasts those writes waits), the dispatched record, the publish, then the cursor.
        const writesMs = 2 * inputs.firestoreMs + inputs.publishMs;
        const waitMs = prefetched ? Math.max(0, queryMs - writesMs) : queryMs;
        prefetched = true;
        queue.after(waitMs + inputs.firestoreMs + inputs.publishMs, () => {
          if (stopped) return;
          dispatch.pages += 1;
          dispatch.dispatched += size;
          firestore(size, 1); // the page (one read per user) and the dispatched record
          usage.pubsubBytes += messageBytes(size).publish;
          push.publish({ first: pageFirst, end: pageFirst + size, attempts: 0 });
          queue.after(inputs.firestoreMs, () => {
            if (stopped) return;
            firestore(0, 1); // the cursor on the run
            cursor = pageFirst + size;
            if (cursor < end && queue.now - began >= inputs.dispatchSliceS * 1000) {
              // Past its slice: the lease let go and a tick of its own published; the next
              // invocation resumes at once from the cursor.
              leaseUntil = 0;
              dispatch.handovers += 1;
              stop(false);
              queue.after(inputs.publishMs + inputs.firestoreMs, () => attempt(1, true));
              return;
            }
            leaseUntil = queue.now + inputs.dispatchLeaseS * 1000;
            page();
          });
        });
      };
      queue.after(startMs, () => {
        if (tick === 1 && !resumed) {
          // The pre-flight refresh of a token that cannot exist (checks the OAuth client).
          countCall('token', buckets.token.take(queue.now));
          queue.after(inputs.latency, page);
        } else page();
      });
    };
    attempt(1);
  };
  const perShard = Math.ceil(n / inputs.shards);
  for (let first = 0; first < n; first += perShard)
    dispatchShard(first, Math.min(n, first + perShard));

  queue.run();

  let once = 0;
  let twice = 0;
  for (let user = 0; user < n; user++)
    if (effects[user] === 1) once += 1;
    else if (effects[user]! > 1) twice += 1;
  const quotaFloorMs =
    inputs.quotaPerSecond > 0
      ? (Math.max(0, calls.drive.accepted - buckets.drive.burstSize) / inputs.quotaPerSecond) * 1000
      : 0;
  return {
    inputs,
    durationMs: usage.lastUserDone > 0 ? usage.lastUserDone : queue.now,
    once,
    twice,
    never: n - once - twice,
    deadLetteredUsers: usage.deadLetteredUsers,
    dispatch,
    push: push.figures,
    cloudRun: {
      peakInstances: instances.length,
      starts: run.starts,
      refused: run.refused,
      deliveries: run.deliveries,
      redelivered: run.redelivered,
      billableMs: run.billableMs,
      cpuBusyMs: run.cpuBusyMs,
      slowestDeliveryMs: run.slowestDeliveryMs,
      timedOut: run.timedOut,
      pendingTimeoutMs,
    },
    calls,
    peakCallsPerSecond: accepted.peak(),
    peakSentPerSecond: sent.peak(),
    quotaFloorMs,
    firestore: {
      ...fs,
      peakWritesPerSecond: firestoreWrites.peak(),
      rampExceeded: firestoreWrites.firstAbove(
        (second) => RAMP_START_OPS * 1.5 ** Math.floor(second / RAMP_STEP_S),
      ),
    },
    kmsCalls: usage.kms,
    secretAccesses: usage.secrets,
    pubsubBytes: usage.pubsubBytes,
  };
}

// Everything the run modules need, passed explicitly and built once per warm instance.
import { randomUUID } from 'node:crypto';
import type { Firestore } from '@google-cloud/firestore';
import type { EventPublisher } from '../pubsub/events.ts';
import { enabledJobs, jobCatalog } from '../jobs/catalog.ts';
import type { JobDefinition } from '../jobs/define.ts';
import { loadJobFiles } from '../jobs/job-files.ts';
import type { FetchLike } from '../oauth/refresh.ts';
import { pubsubPublisher, type TopicPublisher } from '../pubsub/publisher.ts';
import type { Runtime } from '../platform/runtime.ts';
import { sleep } from '../retry/time.ts';
import type { ConnectionRepository } from '../store/connection/repository.ts';
import {
  createAdaptiveLimiter,
  createLimiter,
  type AdaptiveLimiter,
  type Limiter,
} from './limiter.ts';

/** Deliveries of one work message before it is dead-lettered. */
export const DEFAULT_MAX_DELIVERY_ATTEMPTS = 5;

export interface RunDeps {
  readonly runtime: Runtime;
  readonly db: Firestore;
  /** The jobs JOBS enables, in its order. */
  readonly jobs: readonly JobDefinition[];
  readonly publisher: TopicPublisher;
  readonly events: EventPublisher;
  readonly fetch: FetchLike;
  /** Lease holder id of this instance. */
  readonly instanceId: string;
  /** Users calling Google at once on this instance: WORKER_CONCURRENCY. */
  /** The Google lanes: WORKER_CONCURRENCY, fewer while Google says slow down (./limiter.ts). */
  readonly limiter: AdaptiveLimiter;
  /** Users taking their lease while they wait for a Google lane: as many again, at most. */
  readonly lookahead: Limiter;
  readonly random: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly maxDeliveryAttempts: number;
  /** Base of the exponential backoff (ms). */
  readonly backoffBaseMs: number;
  /** How long one dispatcher invocation pages before it hands the run over (./dispatch.ts). */
  readonly dispatchSliceMs: number;
  /** Wraps each batch's connection repository: the seam where tests force an interleaving. */
  readonly decorateConnections?: (connections: ConnectionRepository) => ConnectionRepository;
}

export interface RunDepsOptions {
  /** Instead of the build's jobs (JOBS still picks among them). */
  readonly jobs?: readonly JobDefinition[];
  readonly publisher?: TopicPublisher;
  readonly events?: EventPublisher;
  readonly fetch?: FetchLike;
  readonly instanceId?: string;
  readonly random?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly maxDeliveryAttempts?: number;
  readonly backoffBaseMs?: number;
  readonly dispatchSliceMs?: number;
  readonly decorateConnections?: (connections: ConnectionRepository) => ConnectionRepository;
}

/**
 * Well within the dispatcher's 540 s timeout (infra/deploy/resources.ts), with room for the
 * page in flight and the hand-over's own writes.
 */
export const DISPATCH_SLICE_MS = 300_000;

export async function createRunDeps(
  runtime: Runtime,
  options: RunDepsOptions = {},
): Promise<RunDeps> {
  const { config } = runtime;
  const publisher = options.publisher ?? pubsubPublisher(config);
  return {
    runtime,
    db: await runtime.firestore(),
    jobs: options.jobs ?? enabledJobs(jobCatalog(await loadJobFiles()).jobs, config.jobs),
    publisher,
    events: options.events ?? runtime.events(),
    fetch: options.fetch ?? fetch,
    instanceId: options.instanceId ?? randomUUID(),
    limiter: createAdaptiveLimiter(config.runs.workerConcurrency, { clock: runtime.clock }),
    lookahead: createLimiter(config.runs.workerConcurrency),
    random: options.random ?? Math.random,
    sleep: options.sleep ?? sleep,
    maxDeliveryAttempts: options.maxDeliveryAttempts ?? DEFAULT_MAX_DELIVERY_ATTEMPTS,
    backoffBaseMs: options.backoffBaseMs ?? 200,
    dispatchSliceMs: options.dispatchSliceMs ?? DISPATCH_SLICE_MS,
    ...(options.decorateConnections ? { decorateConnections: options.decorateConnections } : {}),
  };
}

/** Lazily built deps for a function adapter: one per warm instance. */
export function lazyRunDeps(
  runtime: Runtime,
  options: RunDepsOptions = {},
): () => Promise<RunDeps> {
  let deps: Promise<RunDeps> | undefined;
  return () => {
    deps ??= createRunDeps(runtime, options);
    deps.catch(() => (deps = undefined));
    return deps;
  };
}

// The job interface (docs/jobs.md). A job is a name, the scopes it needs and a run function. The
// runner gives it an OAuth2Client authorized for exactly one user (access token only: a job can
// never refresh or see the refresh token), that user's connection metadata, a logger, an
// idempotency key and a deadline. A job's own effects must be idempotent: a retried run for the
// same key must not duplicate anything.
import type { OAuth2Client } from 'google-auth-library';
import type { Logger } from '../log.ts';
import type { RunPeriod } from '../runs/run-id.ts';

export interface ConnectionMeta {
  readonly sub: string;
  readonly email: string | null;
  /** Granted scopes (normalised URLs). */
  readonly scopes: readonly string[];
  readonly connectedAt: Date;
}

export interface JobContext {
  readonly auth: OAuth2Client;
  readonly connection: ConnectionMeta;
  readonly log: Logger;
  /** `<runId>:<sub>`: the same for every retry of this user in this run. */
  readonly idempotencyKey: string;
  readonly period: RunPeriod;
  /** Absolute time (ms) by which run() must finish; pass it on as request timeouts. */
  readonly deadline: number;
}

export interface JobResult {
  /** Short machine-readable summary for the run ledger (e.g. `created`, `updated`). */
  readonly effect: string;
}

export interface Job {
  readonly name: string;
  readonly scopes: readonly string[];
  run(context: JobContext): Promise<JobResult>;
}

/** Settings every job factory receives (from shared/settings/config.ts, plus app plug-ins). */
export interface JobSettings {
  /** Root for `@googleapis/*` clients (`rootUrl`), ending in '/'. */
  readonly apiRoot: string;
  readonly exportFolderName: string;
}

export interface JobDefinition<Options = unknown> {
  readonly name: string;
  readonly scopes: readonly string[];
  create(settings: JobSettings, options?: Options): Job;
}

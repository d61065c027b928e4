// Builds the context a job's run() gets (./define.ts), for the runner (shared/runs/user/) and for
// a job's own test against the stand-in (test/support/job-harness.ts): the same clients, the same
// shape, so a job that passes its test meets nothing new in a run.
import type { OAuth2Client } from 'google-auth-library';
import type { Logger } from '../log.ts';
import type { RunPeriod } from '../runs/run-id.ts';
import type {
  ConnectionMeta,
  JobContext,
  JobDetails,
  JobResult,
  OperatorSettings,
} from './define.ts';
import { googleClients, type ApiRoots } from './google-clients.ts';

export interface JobContextInput {
  readonly job: string;
  readonly auth: OAuth2Client;
  readonly roots: ApiRoots;
  readonly connection: ConnectionMeta;
  readonly settings: Record<string, unknown>;
  readonly log: Logger;
  readonly period: RunPeriod;
  readonly deadline: number;
  readonly signal: AbortSignal;
  readonly earlier: ReadonlyMap<string, JobResult>;
  readonly memory: JobDetails;
  readonly retried: boolean;
  readonly operator: OperatorSettings;
  readonly now: () => number;
}

export function jobContext(input: JobContextInput): JobContext<Record<string, unknown>> {
  return {
    google: googleClients(input),
    auth: input.auth,
    connection: input.connection,
    settings: input.settings,
    log: input.log.child({ job: input.job }),
    idempotencyKey: `${input.job}:${input.period.runId}:${input.connection.sub}`,
    period: input.period,
    deadline: input.deadline,
    signal: input.signal,
    earlier: input.earlier,
    memory: input.memory,
    retried: input.retried,
    operator: input.operator,
  };
}

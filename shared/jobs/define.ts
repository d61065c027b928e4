// The job API (docs/jobs.md): what an app's job file exports. A job is one `defineJob({...})`
// with its name, the Google scopes it needs (declared here once: consent, pages, the deploy and
// the runner all derive from them), its per-user settings (a zod object), its schedule and its
// run function. The runner gives run() ready-made Google clients for exactly one user (access
// token only: a job never sees or refreshes the refresh token), that user's settings and
// connection, an idempotency key and a deadline. A job's effects must be idempotent: a retried
// run with the same key must not duplicate anything.
import type { OAuth2Client } from 'google-auth-library';
import type { z } from 'zod';
import type { Logger } from '../log.ts';
import type { RunPeriod } from '../runs/run-id.ts';
import type { GoogleClients } from './google-clients.ts';
import { describeScope, type ScopeInfo } from './google-scopes.ts';

/** How often a job runs for each user: once per period (UTC-aligned). */
export const SCHEDULES = { hourly: 3600, daily: 86400, weekly: 7 * 86400 } as const;
export type Schedule = keyof typeof SCHEDULES;

export interface ConnectionMeta {
  readonly sub: string;
  readonly email: string | null;
  /** The app's own id for this user, when the connection was made through a connect link. */
  readonly appUserId: string | null;
  /** Granted scopes (normalised URLs). */
  readonly scopes: readonly string[];
  readonly connectedAt: Date;
}

/** The per-user settings shape a job declares: a zod object (validated before every run). */
export type SettingsShape = z.ZodObject;

export interface JobContext<Settings = Record<string, never>> {
  /** Google API clients authorized as this user, pointed at the right host, without retries. */
  readonly google: GoogleClients;
  /** The user's authorized client, for libraries that take one. */
  readonly auth: OAuth2Client;
  readonly connection: ConnectionMeta;
  /** This user's settings for this job, validated against the job's schema. */
  readonly settings: Settings;
  readonly log: Logger;
  /** `<job>:<job period run id>:<sub>`: the same for every retry of this job, user and period. */
  readonly idempotencyKey: string;
  /** The job's own period (its schedule), not the tick's. */
  readonly period: RunPeriod;
  /** Absolute time (ms) by which run() must finish; the clients time out by then. */
  readonly deadline: number;
  /** Aborted at the deadline. */
  readonly signal: AbortSignal;
  /** What the jobs that ran before this one for the same user in this run returned. */
  readonly earlier: ReadonlyMap<string, JobResult>;
  /**
   * What this job remembered for this user at its last success (`JobResult.remember`), e.g. the
   * id of a folder it made; `{}` at first. A hint, never the truth: the job must cope with what
   * it names being gone (docs/jobs.md#memory-and-retries).
   */
  readonly memory: JobDetails;
  /**
   * False only when no earlier attempt of this job for this user and period can have had an
   * effect: the first delivery, the user's lease free, no retry recorded. A job may then skip
   * looking for what an earlier attempt made (the idempotency lookup) and just create it.
   */
  readonly retried: boolean;
  /** Settings the operator gave every user (docs/configuration.md). */
  readonly operator: OperatorSettings;
}

export interface OperatorSettings {
  readonly appName: string;
  /** DRIVE_EXPORT_FOLDER. */
  readonly exportFolderName: string;
}

/** Numbers, short strings and flags that say what a run did: kept in the report. */
export type JobDetails = Readonly<Record<string, number | string | boolean>>;

export interface JobResult {
  /** Short machine-readable word for the report (`created`, `updated`, `read`). */
  readonly effect: string;
  readonly details?: JobDetails;
  /** Handed to later jobs of the same user run (`context.earlier`); never stored. */
  readonly output?: unknown;
  /** Kept on the connection for this job's next runs (`context.memory`); replaces the last. */
  readonly remember?: JobDetails;
}

export interface JobSpec<S extends SettingsShape | undefined> {
  /** Lower-case letters, digits and dashes; what JOBS names. */
  readonly name: string;
  /** What users read on the pages: "a daily export to your Google Drive". */
  readonly title: string;
  /** Scope URLs, or `{ url, description }` for a scope consent-vault has no description of. */
  readonly scopes: readonly (string | ScopeInfoInput)[];
  /** Google API services the job calls (enabled by the deploy), e.g. `sheets.googleapis.com`. */
  readonly apis?: readonly string[];
  /**
   * Google calls one run of the job makes per user in the steady state, by API service; the
   * deploy sizes the worker fleet from them against each API's budget (docs/jobs.md#calls).
   * Default: one for each of its APIs.
   */
  readonly calls?: Readonly<Record<string, number>>;
  readonly settings?: S;
  /** Default `daily`. */
  readonly schedule?: Schedule;
  run(
    context: JobContext<S extends SettingsShape ? z.output<S> : Record<string, never>>,
  ): Promise<JobResult>;
}

export interface ScopeInfoInput {
  readonly url: string;
  readonly description: string;
  readonly sensitivity?: ScopeInfo['sensitivity'];
}

/** A job as the runner and the build see it: validated, scopes described. */
export interface JobDefinition {
  readonly name: string;
  readonly title: string;
  readonly scopes: readonly ScopeInfo[];
  readonly apis: readonly string[];
  /** Steady-state Google calls per user and run, for each of `apis`. */
  readonly calls: Readonly<Record<string, number>>;
  readonly settings: SettingsShape | undefined;
  readonly schedule: Schedule;
  run(context: JobContext<Record<string, unknown>>): Promise<JobResult>;
}

export const JOB_NAME = /^[a-z][a-z0-9-]{0,39}$/;
const API_SERVICE = /^[a-z][a-z0-9-]*\.googleapis\.com$/;
/** Calls of one API per user and run a job may declare. */
const MAX_CALLS = 1000;

/** Thrown at load time for a job file that declares itself wrongly. */
export class JobDefinitionError extends Error {
  override readonly name = 'JobDefinitionError';
}

export function defineJob<S extends SettingsShape | undefined = undefined>(
  spec: JobSpec<S>,
): JobDefinition {
  const problems: string[] = [];
  if (!JOB_NAME.test(spec.name))
    problems.push(`name "${spec.name}" must be lower-case letters, digits and dashes`);
  if (typeof spec.title !== 'string' || spec.title.trim() === '' || spec.title.length > 120)
    problems.push('title must be a short sentence for the pages');
  if (!Array.isArray(spec.scopes) || spec.scopes.length === 0)
    problems.push('scopes must list at least one Google scope URL');
  const scopes: ScopeInfo[] = [];
  for (const scope of spec.scopes ?? []) {
    const described = describeOrProblem(scope);
    if (typeof described === 'string') problems.push(described);
    else scopes.push(described);
  }
  const schedule = spec.schedule ?? 'daily';
  if (!(schedule in SCHEDULES))
    problems.push(
      `schedule "${String(schedule)}" must be one of ${Object.keys(SCHEDULES).join(', ')}`,
    );
  for (const api of spec.apis ?? [])
    if (!API_SERVICE.test(api))
      problems.push(`api "${api}" must be a service name like drive.googleapis.com`);
  if (typeof spec.run !== 'function') problems.push('run must be a function');
  const apis = [...new Set([...(spec.apis ?? []), ...scopes.flatMap((scope) => scope.api ?? [])])];
  for (const [api, count] of Object.entries(spec.calls ?? {})) {
    if (!apis.includes(api))
      problems.push(`calls names "${api}", which is not one of its apis (${apis.join(', ')})`);
    if (!Number.isInteger(count) || count < 0 || count > MAX_CALLS)
      problems.push(`calls of "${api}" must be a whole number from 0 to ${MAX_CALLS}`);
  }
  if (problems.length > 0)
    throw new JobDefinitionError(`job "${spec.name}": ${problems.join('; ')}`);
  return Object.freeze({
    name: spec.name,
    title: spec.title,
    scopes,
    apis,
    calls: Object.fromEntries(apis.map((api) => [api, spec.calls?.[api] ?? 1])),
    settings: spec.settings,
    schedule,
    // The schema parsed the settings before run() is called: they have its output type.
    run: (context: JobContext<Record<string, unknown>>) =>
      spec.run(context as Parameters<JobSpec<S>['run']>[0]),
  });
}

function describeOrProblem(scope: string | ScopeInfoInput): ScopeInfo | string {
  const input = typeof scope === 'string' ? { url: scope } : scope;
  let url: URL;
  try {
    url = new URL(input.url);
  } catch {
    return `scope "${input.url}" is not a URL (Google scopes look like https://www.googleapis.com/auth/drive.file)`;
  }
  if (url.protocol !== 'https:') return `scope "${input.url}" must be an https URL`;
  const known = describeScope(input.url);
  if ('description' in input && input.description) {
    return {
      url: input.url,
      description: input.description,
      sensitivity: input.sensitivity ?? known?.sensitivity ?? 'unknown',
      ...(known?.api ? { api: known.api } : {}),
    };
  }
  return (
    known ??
    `scope "${input.url}" is not one consent-vault knows: declare it as { url, description }`
  );
}

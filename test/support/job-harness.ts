// Runs one job definition for one user against the Google stand-in, without Firestore or a run:
// what a job's own test needs (`npm run new-job` scaffolds one; docs/jobs.md#test-it). The user
// consents through the stand-in's scripted consent to the job's scopes (or `grant`), and the
// job gets exactly the context a run gives it (shared/jobs/context.ts).
import { OAuth2Client } from 'google-auth-library';
import { createLogger } from '../../shared/log.ts';
import { jobContext } from '../../shared/jobs/context.ts';
import type { JobDefinition, JobDetails, JobResult } from '../../shared/jobs/define.ts';
import { runPeriodFor } from '../../shared/runs/run-id.ts';
import { checkedResult } from '../../shared/runs/user/job-result.ts';
import { startGoogleStandIn, type GoogleStandIn, type StandInOptions } from '../standin/index.ts';
import { CLIENT, decodeJwtPayload, signIn, str } from '../standin/test-helpers.ts';

export interface JobUser {
  readonly email: string;
  readonly sub: string;
  readonly accessToken: string;
  readonly scopes: readonly string[];
}

/** A stand-in with the test client registered; `apis` adds the app's own API handlers. */
export function startJobStandIn(options: Partial<StandInOptions> = {}): Promise<GoogleStandIn> {
  return startGoogleStandIn({ clients: [CLIENT], ...options });
}

/** A user who consented to `scopes` (default: the job's) at the stand-in. */
export async function consentedUser(
  standIn: GoogleStandIn,
  input: { job: JobDefinition; email?: string; scopes?: readonly string[] },
): Promise<JobUser> {
  const email = input.email ?? 'someone@example.com';
  const scopes = input.scopes ?? input.job.scopes.map((scope) => scope.url);
  const tokens = await signIn(standIn, {
    scope: ['openid', 'email', ...scopes].join(' '),
    standin_user: email,
  });
  const sub = str(decodeJwtPayload(str(tokens.id_token)).sub);
  return {
    email,
    sub,
    accessToken: str(tokens.access_token),
    scopes: str(tokens.scope).split(' '),
  };
}

/** Runs the job once for the user, as a run would; the result is checked like a run checks it. */
export async function runJob(
  standIn: GoogleStandIn,
  job: JobDefinition,
  input: {
    user: JobUser;
    settings?: Record<string, unknown>;
    now?: number;
    timeoutMs?: number;
    /** What the job remembered at its last success (`context.memory`). */
    memory?: JobDetails;
    /** Whether an earlier attempt may have had effects (default: a clean first attempt). */
    retried?: boolean;
  },
): Promise<JobResult> {
  const now = input.now ?? Date.now();
  const auth = new OAuth2Client({ clientId: CLIENT.clientId });
  auth.setCredentials({ access_token: input.user.accessToken, token_type: 'Bearer' });
  const settings = job.settings?.parse(input.settings ?? {}) ?? {};
  const controller = new AbortController();
  const deadline = now + (input.timeoutMs ?? 30_000);
  // The job's log lines go where the test's output goes.
  const log = createLogger({ level: 'WARNING', sink: (line) => process.stderr.write(`${line}\n`) });
  return checkedResult(
    job.name,
    await job.run(
      jobContext({
        job: job.name,
        auth,
        roots: { all: standIn.endpoints.apiRoot, byApi: {} },
        connection: {
          sub: input.user.sub,
          email: input.user.email,
          appUserId: null,
          scopes: input.user.scopes,
          connectedAt: new Date(now),
        },
        settings,
        log,
        period: runPeriodFor(now, 86400),
        deadline,
        signal: controller.signal,
        earlier: new Map(),
        memory: input.memory ?? {},
        retried: input.retried ?? false,
        operator: { appName: 'consent-vault', exportFolderName: 'consent-vault exports' },
        now: Date.now,
      }),
    ),
  );
}

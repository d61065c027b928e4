// The user's Google work inside their lane: an access token (reused or refreshed), then every
// configured job in turn. Right before each job's side effect the run checks that nobody wrote
// the connection since it leased it: a user who revoked or reconnected meanwhile gets no export.
// A job's 401 forces one refresh and one more try: the grant may have been revoked since the
// token was issued, and the refresh tells (invalid_grant) or yields a token that works.
import type { OAuth2Client } from 'google-auth-library';
import type { PurposeKeys } from '../../crypto/keyset.ts';
import { OperationError, SCOPE_MISSING } from '../../errors.ts';
import type { Job } from '../../jobs/types.ts';
import { createOAuthClient } from '../../oauth/google-client.ts';
import { withBackoff } from '../../retry/backoff.ts';
import { classifyError } from '../../retry/classify.ts';
import type { Held } from '../../store/connection/repository.ts';
import { obtainToken, type UserToken } from '../tokens.ts';
import type { UserWork } from './context.ts';

/** What the lane produced: the token (to persist if refreshed) and the effects, or the error. */
export type JobsStep =
  | { readonly kind: 'ran'; readonly token: UserToken; readonly effects: readonly string[] }
  | { readonly kind: 'failed'; readonly token: UserToken | undefined; readonly error: unknown }
  /** The user decided (revoked, reconnected) before a job's side effect: nothing was done. */
  | { readonly kind: 'superseded'; readonly token: UserToken | undefined };

export interface UserGrant {
  readonly held: Held;
  readonly keys: PurposeKeys;
}

export async function runJobs(work: UserWork, grant: UserGrant): Promise<JobsStep> {
  let token: UserToken | undefined;
  const request = { connection: grant.held.connection, keys: grant.keys, deadline: work.deadline };
  try {
    token = await obtainToken(work.deps, { ...request, force: false });
    const effects: string[] = [];
    for (const job of work.deps.jobs) {
      if (!(await work.run.connections.stillHeld(grant.held))) return { kind: 'superseded', token };
      const done = await runJob(work, { grant, job, token });
      token = done.token;
      effects.push(`${job.name}:${done.effect}`);
    }
    return { kind: 'ran', token, effects };
  } catch (error) {
    return { kind: 'failed', token, error };
  }
}

async function runJob(
  work: UserWork,
  { grant, job, token }: { grant: UserGrant; job: Job; token: UserToken },
): Promise<{ token: UserToken; effect: string }> {
  const { connection } = grant.held;
  let current = requireScopes(job, token);
  for (let attempt = 0; ; attempt += 1) {
    const auth = await authorizedClient(work, current);
    try {
      const result = await withBackoff(
        () =>
          job.run({
            auth,
            connection: {
              sub: connection.sub,
              email: connection.email,
              scopes: current.scopes,
              connectedAt: connection.connectedAt ?? connection.updatedAt,
            },
            log: work.log.child({ job: job.name }),
            idempotencyKey: `${work.run.period.runId}:${work.sub}`,
            period: work.run.period,
            deadline: work.deadline,
          }),
        work.backoff(),
      );
      return { token: current, effect: result.effect };
    } catch (error) {
      if (attempt > 0 || classifyError(error).failure !== 'unauthenticated') throw error;
      const refreshed = await obtainToken(work.deps, {
        connection,
        keys: grant.keys,
        deadline: work.deadline,
        force: true,
      });
      current = requireScopes(job, refreshed);
    }
  }
}

function requireScopes(job: Job, token: UserToken): UserToken {
  for (const scope of job.scopes)
    if (!token.scopes.includes(scope))
      throw new OperationError(SCOPE_MISSING, `granted scopes lack ${scope}`, { detail: scope });
  return token;
}

async function authorizedClient(work: UserWork, token: UserToken): Promise<OAuth2Client> {
  const client = await createOAuthClient(work.deps.runtime.config);
  // Access token only: a job can neither refresh nor read the refresh token. No expiry either:
  // google-auth-library would treat a token with less than its own margin (5 minutes) left as
  // expired and fail for want of a refresh token; whether a token is good is the runner's call
  // (tokens.ts), and a 401 makes it refresh.
  client.setCredentials({ access_token: token.accessToken, token_type: 'Bearer' });
  return client;
}

// What the enabled jobs (JOBS) ask of the project: the Google APIs the deploy enables, the scopes
// the operator registers on the OAuth consent screen, and the calls that size the fleet. Derived
// here only, from the same job manifest and the same selection (configuredJobs) that authorize
// uses for its consent request, so the project, the consent screen and the scopes users are asked
// for cannot drift apart.
import type { ScopeSensitivity } from '../../shared/jobs/google-scopes.ts';
import type { ManifestJob } from '../../shared/jobs/manifest.ts';
import { configuredJobs, SIGN_IN_SCOPES } from '../../shared/oauth/authorization.ts';
import type { Config } from '../../shared/settings/config.ts';
import { APIS } from './resources.ts';

export interface ConsentScope {
  /** As authorize requests it: `openid`, `email` or a full scope URL. */
  readonly url: string;
  /** Completes "This app will …", as our pages word it. */
  readonly description: string;
  readonly sensitivity: ScopeSensitivity;
  /** The enabled jobs that need it, in JOBS order; empty for the sign-in scopes. */
  readonly jobs: readonly string[];
}

export interface JobRequirements {
  /** The platform's APIs, then each enabled job's (deduplicated, first occurrence kept). */
  readonly apis: readonly string[];
  /** Sign-in scopes first, then each enabled job's, as the consent request orders them. */
  readonly consentScopes: readonly ConsentScope[];
  /** The enabled jobs' Google calls per user and run, by API, added up (their `calls`). */
  readonly calls: ReadonlyMap<string, number>;
}

// Google's own wording for the sign-in scopes (neither is sensitive). Keyed by SIGN_IN_SCOPES, so
// a sign-in scope added there without a description here does not compile.
const SIGN_IN_DESCRIPTIONS: Readonly<Record<(typeof SIGN_IN_SCOPES)[number], string>> = {
  openid: 'associate you with your personal info on Google',
  email: 'see your primary Google Account email address (listed as …/auth/userinfo.email)',
};

export function jobRequirements(config: Pick<Config, 'jobs'>): JobRequirements {
  const jobs: readonly ManifestJob[] = configuredJobs(config);
  const apis = [...new Set([...APIS, ...jobs.flatMap((job) => job.apis)])];

  const byUrl = new Map<string, ConsentScope>();
  for (const url of SIGN_IN_SCOPES)
    byUrl.set(url, {
      url,
      description: SIGN_IN_DESCRIPTIONS[url],
      sensitivity: 'non-sensitive',
      jobs: [],
    });
  for (const job of jobs)
    for (const scope of job.scopes) {
      const earlier = byUrl.get(scope.url);
      // A scope two jobs share is registered once; the warning names both jobs.
      byUrl.set(scope.url, {
        url: scope.url,
        description: earlier?.description ?? scope.description,
        sensitivity: earlier?.sensitivity ?? scope.sensitivity,
        jobs: [...(earlier?.jobs ?? []), job.name],
      });
    }
  const calls = new Map<string, number>();
  for (const job of jobs)
    for (const [api, count] of Object.entries(job.calls))
      calls.set(api, (calls.get(api) ?? 0) + count);
  return { apis, consentScopes: [...byUrl.values()], calls };
}

// What the deploy prints: the plan as copy-pasteable commands, and the summary at the end.
// Pure formatting; nothing here can see a secret value (steps only name their stdin).
import type { Desired } from './desired.ts';
import type { ConsentScope } from './jobs.ts';
import type { Plan, SecretInput, Step } from './plan.ts';
import { releaseName } from './rules-api.ts';
import type { ProjectState } from './state.ts';

const STDIN_LABEL: Readonly<Record<SecretInput, string>> = {
  'client-secret': 'the OAuth client secret from --client-secret-file',
  'token-keyset': 'a token keyset generated in memory',
};

/** POSIX shell quoting, so that printed commands can be pasted as they are. */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function formatStep(step: Step, rulesApi: string, project: string): string[] {
  if (step.kind === 'rules') {
    const release = releaseName(project, step.database);
    return [
      `# ${step.title} (Firebase Rules REST API, token from \`gcloud auth print-access-token\`)`,
      `#   POST ${rulesApi}/v1/projects/${project}/rulesets  (the rules file, ${Buffer.byteLength(step.source)} bytes)`,
      `#   PATCH or POST ${rulesApi}/v1/${release}  (point the release at the new ruleset)`,
    ];
  }
  const lines = [`# ${step.title}${step.pending ? ` (after ${step.pending} exists)` : ''}`];
  const command = ['gcloud', ...step.args].map(shellQuote).join(' ');
  lines.push(step.stdin ? `${command}  # stdin: ${STDIN_LABEL[step.stdin]}` : command);
  return lines;
}

export function formatPlan(plan: Plan, rulesApi: string, project: string): string {
  const lines: string[] = [];
  if (plan.steps.length === 0) lines.push('Nothing to change: the project matches the repository.');
  else lines.push(`${plan.steps.length} change(s):`, '');
  for (const step of plan.steps) lines.push(...formatStep(step, rulesApi, project), '');
  for (const note of plan.notes) lines.push(`note: ${note}`);
  for (const problem of plan.problems) lines.push(`problem: ${problem}`);
  return lines.join('\n');
}

export function formatSummary(desired: Desired, state: ProjectState | undefined): string {
  const url = (name: string, fallback: string): string => state?.functions[name]?.url ?? fallback;
  const lines = [
    'Function URLs:',
    ...desired.functions.map(({ spec }) =>
      spec.trigger === 'http'
        ? `  ${spec.name.padEnd(10)} ${url(spec.name, desired.urls[spec.name as 'authorize'])}${spec.public ? '  (public)' : ''}`
        : `  ${spec.name.padEnd(10)} (Pub/Sub trigger on ${desired.topics[spec.trigger]}, private)`,
    ),
    '',
    'Register this redirect URI on the OAuth client (APIs & Services > Credentials > your Web client):',
    `  ${desired.redirectUri}`,
    '',
    ...formatConsentScreen(desired.consentScopes),
    '',
    'Manual steps left:',
    `  1. Add the redirect URI above to the OAuth client ${desired.env['OAUTH_CLIENT_ID'] ?? ''} (Google compares it character for character).`,
    `  2. Register the scopes above on the OAuth consent screen and set it to "In production": in "Testing", refresh tokens die after 7 days.${needsReview(desired.consentScopes) ? ' With a WARNING scope above, Google must verify the app first.' : ''}`,
    `  3. Custom domain: if REDIRECT_URI/AUTHORIZE_URL/REVOKE_URL point elsewhere, map that domain to the functions yourself.`,
    `  4. Subscribe whatever consumes ${desired.topics.events} (the deploy creates the topic only), and watch ${desired.deadLetterSubscription} for dead letters.`,
    '  5. Rotate the token keyset by hand (add a key, switch "primary", add a secret version, redeploy); the deploy never replaces an existing keyset.',
    '  6. Projects created before April 2021: grant the Pub/Sub service agent roles/iam.serviceAccountTokenCreator on the scheduler service account.',
  ];
  return lines.join('\n');
}

// Google decides from these classes whether the consent screen needs its review; an app asking for
// a sensitive or restricted scope cannot be published without it, so the operator should know
// before the first user is asked.
const VERIFICATION = 'https://support.google.com/cloud/answer/13463073';
const WHY: Readonly<Partial<Record<ConsentScope['sensitivity'], string>>> = {
  sensitive: "needs Google's verification before the app is published",
  restricted: 'needs verification and a security assessment before the app is published',
};

function needsReview(scopes: readonly ConsentScope[]): boolean {
  return scopes.some((scope) => WHY[scope.sensitivity] !== undefined);
}

/** The scopes to register, one a line, then a WARNING (or, unclassified, a note) per scope. */
function formatConsentScreen(scopes: readonly ConsentScope[]): string[] {
  const width = Math.max(...scopes.map((scope) => scope.url.length));
  const neededBy = (scope: ConsentScope): string =>
    scope.jobs.length === 0 ? 'sign-in' : scope.jobs.join(', ');
  const lines = [
    'Register these scopes on the OAuth consent screen (Google Auth Platform > Data Access > Add or remove scopes):',
    ...scopes.map(
      (scope) => `  ${scope.url.padEnd(width)}  ${neededBy(scope)}: ${scope.description}`,
    ),
  ];
  for (const scope of scopes) {
    const why = WHY[scope.sensitivity];
    if (why)
      lines.push(
        `WARNING: ${scope.sensitivity} scope ${scope.url} (needed by ${neededBy(scope)}) ${why}: ${VERIFICATION}`,
      );
    else if (scope.sensitivity === 'unknown')
      lines.push(
        `note: ${scope.url} (needed by ${neededBy(scope)}) is not in consent-vault's list of Google scopes: check on the consent screen whether it is sensitive or restricted (${VERIFICATION})`,
      );
  }
  return lines;
}

// What the deploy prints: the plan as copy-pasteable commands, and the summary at the end.
// Pure formatting; nothing here can see a secret value (steps only name their stdin).
import type { Desired } from './desired.ts';
import { fleetLine } from './fleet.ts';
import type { ConsentScope } from './jobs.ts';
import { encryptArgs } from './kms.ts';
import { dpopModeOf } from './plan-keys.ts';
import type { Plan, SecretInput, Step } from './plan.ts';
import {
  DPOP,
  DPOP_KMS,
  DPOP_KMS_FUNCTIONS,
  KEYSETS,
  KMS,
  RISC_ADMIN_ACCOUNT_ID,
  ROLES,
  SECRETS,
} from './resources.ts';
import type { KeysetKey, SecretKey } from './resources.ts';
import { releaseName } from './rules-api.ts';
import { signingVersions } from './state.ts';
import type { ProjectState } from './state.ts';

function stdinLabel(input: SecretInput): string {
  if (input.kind === 'client-secret') return 'the OAuth client secret from --client-secret-file';
  if (input.kind === 'dpop-keys') return 'an ES256 DPoP key set generated in memory';
  const { purpose, source } = input;
  const keyset =
    source.kind === 'generated'
      ? `a ${purpose} keyset generated in memory`
      : source.kind === 'split'
        ? `the ${purpose} keys split from the master keyset in ${source.secret} version ${source.version}`
        : `the ${purpose} keyset read from ${source.secret} version ${source.version}`;
  return input.wrapWith ? `{"wrapped":…}: ${keyset}, encrypted by Cloud KMS` : keyset;
}

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
  if (step.stdin?.kind === 'keyset' && step.stdin.wrapWith) {
    // Run by the deploy itself when the step runs (kms.ts), its output kept in memory.
    const encrypt = encryptArgs(step.stdin.wrapWith, { ciphertext: 'TMP/ct', aad: 'TMP/aad' });
    lines.push(
      `#   first the keyset on stdin to: gcloud ${encrypt.map(shellQuote).join(' ')}`,
      `#   (TMP: a private temporary folder; TMP/aad holds consent-vault/keyset/${step.stdin.purpose})`,
    );
  }
  lines.push(step.stdin ? `${command}  # stdin: ${stdinLabel(step.stdin)}` : command);
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
        ? `  ${spec.name.padEnd(10)} ${url(spec.name, desired.urls[spec.name as keyof Desired['urls']])}${spec.public ? '  (public)' : ''}`
        : `  ${spec.name.padEnd(10)} (Pub/Sub trigger on ${desired.topics[spec.trigger]}, private)`,
    ),
    '',
    'Worker fleet, sized from the Google call budget (docs/deploy.md#sizing-the-worker-fleet):',
    `  ${fleetLine(desired.workerFleet)}`,
    '',
    'Register this redirect URI on the OAuth client (APIs & Services > Credentials > your Web client):',
    `  ${desired.redirectUri}`,
    '',
    ...formatConsentScreen(desired.consentScopes),
    '',
    ...formatKeys(desired, state),
    '',
    ...formatMonitoring(desired, state),
    '',
    'Manual steps left:',
    `  1. Add the redirect URI above to the OAuth client ${desired.env['OAUTH_CLIENT_ID'] ?? ''} (Google compares it character for character).`,
    `  2. Register the scopes above on the OAuth consent screen and set it to "In production": in "Testing", refresh tokens die after 7 days.${needsReview(desired.consentScopes) ? ' With a WARNING scope above, Google must verify the app first.' : ''}`,
    `  3. Custom domain: if REDIRECT_URI/AUTHORIZE_URL/REVOKE_URL point elsewhere, map that domain to the functions yourself.`,
    `  4. Subscribe whatever consumes ${desired.topics.events} (the deploy creates the topic only), and watch ${desired.deadLetterSubscription} for dead letters.`,
    ...formatRiscStep(desired, url('risc', desired.urls.risc)),
    `  6. Rotate a keyset or the DPoP keys by hand (add a key, switch "primary", add a secret version, redeploy; keep an old DPoP key while connections are bound to it); the deploy never replaces an existing one. Cloud KMS rotates the wrapping key itself every ${KMS.rotationPeriod}.${dpopModeOf(desired, state) === 'kms' ? ` The DPoP key in Cloud KMS: gcloud kms keys versions create --key=${desired.dpopKms.key} --keyring=${desired.dpopKms.keyRing} --location=${desired.dpopKms.location} --project=${desired.project}, then redeploy; disable an old version only once npm run security-status shows no connection bound to it (docs/deploy.md#dpop-keys-in-cloud-kms).` : ''}`,
    '  7. Projects created before April 2021: grant the Pub/Sub service agent roles/iam.serviceAccountTokenCreator on the scheduler service account.',
    ...(notified(desired, state)
      ? []
      : [
          '  8. The alerting policies notify nobody yet: deploy once with --alert-email ADDRESS, or add a notification channel to them in the console (docs/operations.md#dashboard-and-alerts).',
        ]),
  ];
  return lines.join('\n');
}

/** The dashboard, the log-based metrics and the alerting policies, and whom the policies notify. */
function formatMonitoring(desired: Desired, state: ProjectState | undefined): string[] {
  const { project, monitoring } = desired;
  const email = monitoring.alertEmail;
  return [
    'Dashboard and alerts (what each means and what to do: docs/operations.md#dashboard-and-alerts):',
    `  dashboard "${monitoring.dashboard.displayName}": https://console.cloud.google.com/monitoring/dashboards?project=${project}`,
    `  log-based metrics: ${monitoring.metrics.map((metric) => metric.name).join(', ')}`,
    ...monitoring.policies.map((policy) => `  alerting policy "${policy.displayName}"`),
    email !== undefined
      ? `  They notify ${email} (an email notification channel).`
      : notified(desired, state)
        ? '  They notify the notification channels set on them.'
        : '  They notify nobody yet (manual step 8 below).',
  ];
}

/** Whether every alerting policy notifies someone: --alert-email, or channels it has already. */
function notified(desired: Desired, state: ProjectState | undefined): boolean {
  if (desired.monitoring.alertEmail !== undefined) return true;
  const policies = state?.monitoring.policies ?? [];
  return desired.monitoring.policies.every((wanted) =>
    policies.some((p) => p.displayName === wanted.displayName && p.channels.length > 0),
  );
}

/**
 * Cross-Account Protection's stream is registered through the RISC API with a JWT that a service
 * account holding roles/riscconfigs.admin signs with its own key (infra/ops/risc.ts). The deploy
 * neither creates that account nor a key for it: a key is a long-lived credential the deploy
 * would have to hand out, and the account is needed once. It prints the commands instead.
 */
function formatRiscStep(desired: Desired, riscUrl: string): string[] {
  const { project } = desired;
  const account = `${RISC_ADMIN_ACCOUNT_ID}@${project}.iam.gserviceaccount.com`;
  const key = 'risc-admin-key.json';
  const commands = [
    ['gcloud', 'iam', 'service-accounts', 'create', RISC_ADMIN_ACCOUNT_ID, `--project=${project}`],
    [
      'gcloud',
      'projects',
      'add-iam-policy-binding',
      project,
      `--member=serviceAccount:${account}`,
      '--role=roles/riscconfigs.admin',
      '--condition=None',
    ],
    [
      'gcloud',
      'iam',
      'service-accounts',
      'keys',
      'create',
      key,
      `--project=${project}`,
      `--iam-account=${account}`,
    ],
  ];
  const risc = (args: string): string =>
    `RISC_SERVICE_ACCOUNT_KEY_FILE=${key} npm run risc -- ${args}`;
  return [
    `  5. Register the Cross-Account Protection stream, so that Google pushes its security events to risc (once, and again if its URL changes). It needs a key of a service account of this project holding roles/riscconfigs.admin; the deploy creates neither. To create one (or use yours):`,
    ...commands.map((args) => `       ${args.map(shellQuote).join(' ')}`),
    `       ${risc(`register --url ${shellQuote(riscUrl)}`)}`,
    `       ${risc('verify')}   # the risc function logs "RISC verification event"`,
    `     Then delete the key (gcloud iam service-accounts keys delete, docs/operations.md#cross-account-protection).`,
  ];
}

/** Which function holds which keyset, how the token keyset is guarded, and the DPoP keys. */
function formatKeys(desired: Desired, state: ProjectState | undefined): string[] {
  const holders = (key: SecretKey): string =>
    desired.functions
      .filter((fn) => fn.spec.secrets.includes(key))
      .map((fn) => fn.spec.name)
      .join(', ');
  const keys = Object.keys(KEYSETS) as KeysetKey[];
  const width = Math.max(...keys.map((key) => SECRETS[key].env.length));
  const token = SECRETS[KMS.wraps].name;
  const stored = state?.secrets[token]?.content;
  const lines = [
    'Keys: one keyset per purpose, each readable only by the functions that use it:',
    ...keys.map(
      (key) =>
        `  ${SECRETS[key].env.padEnd(width)}  ${SECRETS[key].name.padEnd(29)}  ${holders(key)}`,
    ),
  ];
  if (desired.kms.wrap || stored?.format === 'wrapped')
    lines.push(
      `The token keyset is wrapped by Cloud KMS key ${stored?.format === 'wrapped' ? stored.kmsKey : desired.kms.name} (rotated every ${KMS.rotationPeriod}); only ${holders(KMS.wraps)} may decrypt with it.`,
    );
  else
    lines.push(
      `WARNING: --no-kms: the token keyset is stored unwrapped, the weaker choice: whoever can read secret ${token} can open every stored token. Deploy without --no-kms to wrap it with Cloud KMS (docs/deploy.md#keys).`,
    );
  lines.push(...formatDpop(desired, state, holders));
  return lines;
}

function formatDpop(
  desired: Desired,
  state: ProjectState | undefined,
  holders: (key: SecretKey) => string,
): string[] {
  const secret = SECRETS[DPOP.secret];
  const secretExists = state?.secrets[secret.name] !== undefined;
  switch (dpopModeOf(desired, state)) {
    case 'kms': {
      const key = desired.dpopKms;
      const observed = state?.kms.dpopKey;
      const versions = signingVersions(observed).map((v) => v.number);
      const kept = secretExists
        ? [
            `The keys in ${secret.env} (secret ${secret.name}) stay mounted on ${holders(DPOP.secret)}: refresh tokens bound to them keep refreshing.`,
          ]
        : [];
      if (observed !== undefined && versions.length === 0)
        return [
          `WARNING: DPoP mode kms, but Cloud KMS key ${key.name} has no enabled version: no refresh token can be bound to it, and those bound to its disabled versions cannot be refreshed. Create or enable a version and deploy again (docs/deploy.md#dpop-keys-in-cloud-kms).`,
          ...kept,
        ];
      const which =
        versions.length === 0
          ? 'its first version'
          : `version ${versions[0]}${versions.length > 1 ? `; versions ${versions.slice(1).join(', ')} still refresh the tokens bound to them` : ''}`;
      const level = observed?.protectionLevel ?? key.protectionLevel.toUpperCase();
      return [
        `DPoP mode kms: new refresh tokens are bound to Cloud KMS key ${key.name} (${which}; ${level}), whose private key never leaves Cloud KMS, so a stolen refresh token, even with the token keyset and every secret, cannot be refreshed. Only ${DPOP_KMS_FUNCTIONS.join(', ')} may sign with it (${ROLES.kmsSigner} and ${ROLES.kmsPublicKeyViewer} on that key only) and get its versions in ${DPOP_KMS.setting}.`,
        ...kept,
      ];
    }
    case 'secret':
      return [
        `DPoP mode secret: refresh tokens are bound to the keys in ${secret.env} (secret ${secret.name}); only ${holders(DPOP.secret)} hold them, so a stolen refresh token, even with the token keyset, cannot be refreshed. --dpop-kms keeps the DPoP key in Cloud KMS instead, the strongest choice (docs/deploy.md#dpop-keys-in-cloud-kms).`,
      ];
    case 'off':
      return [
        `WARNING: --no-dpop: DPoP mode off, the weaker choice: a stolen refresh token together with the token keyset could be refreshed. Deploy without --no-dpop to bind refresh tokens to DPoP keys, with --dpop-kms to hold them in Cloud KMS (docs/deploy.md#dpop-keys).`,
      ];
  }
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

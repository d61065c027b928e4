// The key material of a deployment, a part of the plan builder (plan.ts): the OAuth client
// secret, one keyset secret per key purpose and the DPoP keys, each readable only by the functions
// the settings schema gives it (shared/settings/table/project.ts); the Cloud KMS key ring, the key
// that wraps the token keyset, which only the functions that open tokens may decrypt with, and the
// Cloud KMS key that signs DPoP proofs (--dpop-kms), which only the functions that refresh may
// sign with. Pure, like the planner: every step exists only because the state lacks something
// (docs/deploy.md#keys).
import type { KeyPurpose } from '../../shared/crypto/keyset.ts';
import type { FunctionName } from '../../shared/settings/functions.ts';
import type { DpopMode } from './args.ts';
import type { Desired, KmsKey } from './desired.ts';
import type { KeysetSource, PlanContext, SecretInput } from './plan.ts';
import {
  DPOP,
  DPOP_KMS,
  DPOP_KMS_FUNCTIONS,
  KEYSETS,
  KMS,
  PUBLIC_MEMBERS,
  ROLES,
  SECRETS,
} from './resources.ts';
import type { KeysetKey, SecretKey } from './resources.ts';
import { hasMember, membersWith, newestEnabled, signingVersions } from './state.ts';
import type { IamPolicy, ProjectState, SecretState, StoredKeyset } from './state.ts';

/** A secret version this plan replaces that must not stay readable (a master opens every purpose). */
export interface Replaced {
  readonly secret: string;
  readonly version: number;
  readonly what: string;
}

export interface KeyPlan {
  /** The version each secret's functions pin; undefined when there is none (a problem says why). */
  readonly versions: Readonly<Record<SecretKey, string | undefined>>;
  /**
   * Secrets the functions are deployed without: the DPoP secret with --no-dpop or --dpop-kms,
   * while it does not exist.
   */
  readonly unmounted: readonly SecretKey[];
  readonly replaced: readonly Replaced[];
  /** Settings the deploy sets on some functions only, from what it found (DPOP_KMS_KEYS). */
  readonly env: Readonly<Partial<Record<FunctionName, Readonly<Record<string, string>>>>>;
}

const TOKEN_SECRET = SECRETS[KMS.wraps].name;

export function planKeys(ctx: PlanContext): KeyPlan {
  const token = ctx.state.secrets[TOKEN_SECRET];
  const tokenVersion = newestEnabled(token);
  const content = tokenVersion === undefined ? undefined : token?.content;
  // Managed while the stored keyset is wrapped even with --no-kms: the token functions must keep
  // their decrypt grant, and the deploy never unwraps a keyset.
  const wrapping = ctx.desired.kms.wrap || content?.format === 'wrapped';
  const dpopKms = dpopModeOf(ctx.desired, ctx.state) === 'kms';
  if (wrapping || dpopKms) planKeyRing(ctx);
  if (wrapping) planKms(ctx);
  const dpopKmsKeys = dpopKms ? planDpopKms(ctx) : [];
  // The old model's one master keyset: every purpose is split from it (purposeKeysetJson).
  const master: KeysetSource | undefined =
    content?.format === 'master' && tokenVersion !== undefined
      ? { kind: 'split', secret: TOKEN_SECRET, version: tokenVersion }
      : undefined;
  const replaced: Replaced[] = [];
  const unmounted: SecretKey[] = [];
  // In this order: the token keyset last, so that a migration splits the other purposes from its
  // master version first, and a run interrupted between them finds the master again.
  const versions: Record<SecretKey, string | undefined> = {
    clientSecret: planClientSecret(ctx),
    cookieKeyset: planKeyset(ctx, 'cookieKeyset', master),
    linkKeyset: planKeyset(ctx, 'linkKeyset', master),
    connectKeyset: planKeyset(ctx, 'connectKeyset', master),
    dpopKeys: planDpopKeys(ctx, dpopKms, unmounted),
    tokenKeyset: planTokenKeyset(ctx, master, replaced),
  };
  const env: Partial<Record<FunctionName, Record<string, string>>> = {};
  // Unset without a version (the setting's default): a deployment without the key keeps its
  // functions' arguments, and so is not redeployed.
  if (dpopKmsKeys.length > 0)
    for (const name of DPOP_KMS_FUNCTIONS)
      env[name] = { [DPOP_KMS.setting]: dpopKmsKeys.join(',') };
  return { versions, unmounted, replaced, env };
}

/**
 * Where new refresh tokens are bound (docs/deploy.md#dpop-keys): 'kms' with --dpop-kms or once the
 * Cloud KMS key exists, whatever the flags (tokens bound to its versions refresh only with them,
 * and the functions bind with its newest); else 'secret' by default or once the DPoP secret
 * exists; else 'off' (--no-dpop on a project without either).
 */
export function dpopModeOf(desired: Desired, state: ProjectState | undefined): DpopMode {
  if (desired.dpop === 'kms' || state?.kms.dpopKey !== undefined) return 'kms';
  if (desired.dpop === 'secret' || state?.secrets[SECRETS[DPOP.secret].name] !== undefined)
    return 'secret';
  return 'off';
}

/** Disables the versions a migration replaced; planned after the functions' deploys. */
export function retireReplaced(ctx: PlanContext, replaced: readonly Replaced[]): void {
  for (const { secret, version, what } of replaced)
    ctx.gcloud(
      `Disable version ${version} of secret ${secret} (${what}; every function now pins the version that replaced it)`,
      ['secrets', 'versions', 'disable', String(version), `--secret=${secret}`],
    );
}

function planClientSecret(ctx: PlanContext): string | undefined {
  const { name } = SECRETS.clientSecret;
  const existing = ctx.state.secrets[name];
  const { supplied, rotate } = ctx.desired.clientSecret;
  const stdin: SecretInput = { kind: 'client-secret' };
  let version: string | undefined;
  if (existing === undefined) {
    if (!supplied)
      ctx.problem(
        `secret ${name} does not exist: pass --client-secret-file PATH (or - for standard input)`,
      );
    createSecret(ctx, `Create secret ${name}`, name, stdin);
    version = '1';
  } else {
    const newest = newestEnabled(existing);
    if (rotate || (newest === undefined && supplied))
      version = addVersion(ctx, `Add a version to secret ${name}`, existing, name, stdin);
    else if (newest === undefined)
      ctx.problem(`secret ${name} has no enabled version: enable one or pass --client-secret-file`);
    else {
      version = String(newest);
      if (supplied)
        ctx.note(
          `secret ${name} exists: --client-secret-file was not used (add --rotate-client-secret to add a version)`,
        );
    }
  }
  grantReaders(ctx, 'clientSecret', existing);
  return version;
}

/** The cookie, link and connect keysets: raw purpose keysets (authorize holds no KMS role). */
function planKeyset(
  ctx: PlanContext,
  key: Exclude<KeysetKey, typeof KMS.wraps>,
  master: KeysetSource | undefined,
): string | undefined {
  const { name } = SECRETS[key];
  const purpose = KEYSETS[key];
  const existing = ctx.state.secrets[name];
  let version: string | undefined;
  if (existing === undefined) {
    const source = master ?? { kind: 'generated' };
    createSecret(ctx, `Create secret ${name} from ${sourceWords(source, purpose)}`, name, {
      kind: 'keyset',
      purpose,
      source,
    });
    version = '1';
  } else {
    const newest = newestEnabled(existing);
    // Never replace a keyset silently: what was sealed or signed with it would be lost.
    if (newest === undefined) ctx.problem(`secret ${name} has no enabled version: enable one`);
    else version = String(newest);
  }
  grantReaders(ctx, key, existing);
  return version;
}

/**
 * The DPoP keys (resources.ts DPOP): created with one generated key in the default mode (not with
 * --no-dpop, nor where the Cloud KMS key binds new tokens), then never replaced, and kept in every
 * mode: refresh tokens bound to its keys refresh only with them.
 */
function planDpopKeys(
  ctx: PlanContext,
  dpopKms: boolean,
  unmounted: SecretKey[],
): string | undefined {
  const key = DPOP.secret;
  const { name } = SECRETS[key];
  const existing = ctx.state.secrets[name];
  let version: string | undefined;
  if (existing === undefined) {
    if (ctx.desired.dpop !== 'secret' || dpopKms) {
      unmounted.push(key);
      return undefined;
    }
    createSecret(
      ctx,
      `Create secret ${name} from a newly generated ES256 DPoP key (binds refresh tokens)`,
      name,
      { kind: 'dpop-keys' },
    );
    version = '1';
  } else {
    const newest = newestEnabled(existing);
    if (newest === undefined)
      ctx.problem(
        `secret ${name} has no enabled version: enable one (refresh tokens bound to its keys refresh only with them)`,
      );
    else version = String(newest);
    if (ctx.desired.dpop === 'off')
      ctx.note(
        `secret ${name} exists: --no-dpop keeps it mounted (refresh tokens bound to its keys refresh only with them)`,
      );
    else if (dpopKms)
      ctx.note(
        `secret ${name} exists: kept mounted beside Cloud KMS key ${DPOP_KMS.key} (refresh tokens bound to its keys refresh only with them; new ones are bound to the Cloud KMS key)`,
      );
  }
  grantReaders(ctx, key, existing);
  return version;
}

function planTokenKeyset(
  ctx: PlanContext,
  master: KeysetSource | undefined,
  replaced: Replaced[],
): string | undefined {
  const { desired } = ctx;
  const name = TOKEN_SECRET;
  const existing = ctx.state.secrets[name];
  const wrapWith: KmsKey | undefined = desired.kms.wrap ? kmsKeyOf(desired.kms) : undefined;
  const how = wrapWith ? `, wrapped by Cloud KMS key ${wrapWith.key}` : ' (unwrapped: --no-kms)';
  const input = (source: KeysetSource): SecretInput => ({
    kind: 'keyset',
    purpose: 'token',
    source,
    ...(wrapWith ? { wrapWith } : {}),
  });
  let version: string | undefined;
  const newest = newestEnabled(existing);
  const content = existing?.content;
  if (existing === undefined) {
    const source: KeysetSource = { kind: 'generated' };
    createSecret(ctx, `Create secret ${name} from ${sourceWords(source, 'token')}${how}`, name, {
      ...input(source),
    });
    version = '1';
  } else if (newest === undefined) {
    ctx.problem(`secret ${name} has no enabled version: enable one`);
  } else if (master !== undefined) {
    // (master is set exactly when the newest version holds a master keyset.)
    version = addVersion(
      ctx,
      `Add a version to secret ${name}: ${sourceWords(master, 'token')}${how}`,
      existing,
      name,
      input(master),
    );
    replaced.push({ secret: name, version: newest, what: 'the master keyset' });
    ctx.note(
      `migration: secret ${name} version ${newest} holds a master keyset (one keyset for every purpose): the deploy splits it into the token, cookie, link and connect keysets, each holding exactly the keys the master derived, so every stored token, pending consent and link stays readable; version ${newest} is disabled once every function pins the new versions`,
    );
  } else if (content?.format === 'purpose' && content.purpose === 'token') {
    if (wrapWith) {
      const source: KeysetSource = { kind: 'stored', secret: name, version: newest };
      version = addVersion(
        ctx,
        `Add a version to secret ${name}: ${sourceWords(source, 'token')}${how}`,
        existing,
        name,
        input(source),
      );
      replaced.push({ secret: name, version: newest, what: 'the unwrapped token keyset' });
    } else version = String(newest);
  } else if (content?.format === 'wrapped' && content.purpose === 'token') {
    if (content.kmsKey !== desired.kms.name)
      ctx.problem(
        `secret ${name} is wrapped by Cloud KMS key ${content.kmsKey}, not ${desired.kms.name}: pass the --kms-location it was made with`,
      );
    else {
      version = String(newest);
      if (!desired.kms.wrap)
        ctx.note(
          `secret ${name} stays wrapped by Cloud KMS key ${content.kmsKey}: --no-kms never unwraps a keyset`,
        );
    }
  } else if (content !== undefined) {
    ctx.problem(
      `secret ${name} version ${newest} holds no token keyset (${holds(content)}): fix or disable that version`,
    );
  } else version = String(newest);
  grantReaders(ctx, KMS.wraps, existing);
  return version;
}

/** The key ring of both Cloud KMS keys: the token keyset's and the DPoP key. */
function planKeyRing(ctx: PlanContext): void {
  const { kms } = ctx.desired;
  if (!ctx.state.kms.keyRing)
    ctx.gcloud(`Create Cloud KMS key ring ${kms.keyRing} in ${kms.location}`, [
      'kms',
      'keyrings',
      'create',
      kms.keyRing,
      `--location=${kms.location}`,
    ]);
}

/** The key that wraps the token keyset, and who may decrypt with it. */
function planKms(ctx: PlanContext): void {
  const { kms } = ctx.desired;
  const observed = ctx.state.kms;
  const where = [`--keyring=${kms.keyRing}`, `--location=${kms.location}`];
  const rotation = [
    `--rotation-period=${KMS.rotationPeriod}`,
    `--next-rotation-time=${KMS.firstRotation}`,
  ];
  if (observed.key === undefined)
    ctx.gcloud(
      `Create Cloud KMS key ${kms.key} (wraps the token keyset; rotated every ${KMS.rotationPeriod})`,
      ['kms', 'keys', 'create', kms.key, ...where, '--purpose=encryption', ...rotation],
    );
  else if (observed.key.purpose !== 'ENCRYPT_DECRYPT')
    ctx.problem(
      `Cloud KMS key ${kms.name} has purpose ${observed.key.purpose}; the token keyset needs a symmetric encryption key`,
    );
  else if (seconds(observed.key.rotationPeriod) !== KMS.rotationSeconds)
    ctx.gcloud(`Rotate Cloud KMS key ${kms.key} every ${KMS.rotationPeriod}`, [
      'kms',
      'keys',
      'update',
      kms.key,
      ...where,
      ...rotation,
    ]);
  grant(ctx, {
    what: `Cloud KMS key ${kms.key}`,
    verb: 'decrypt with',
    command: ['kms', 'keys'],
    name: kms.key,
    flags: where,
    role: ROLES.kmsDecrypter,
    // The schema's TOKEN_KEYSET functions: only they open tokens.
    wanted: readersOf(ctx, KMS.wraps),
    policy: observed.key?.policy,
  });
}

/**
 * The Cloud KMS key that signs DPoP proofs (resources.ts DPOP_KMS): created with --dpop-kms when
 * missing, never replaced, kept without the flag. Only the schema's DPOP_KMS_KEYS functions may
 * sign with it and read its public key. Returns the versions those functions get, newest first:
 * the first binds new refresh tokens, the others refresh the tokens bound to them.
 */
function planDpopKms(ctx: PlanContext): string[] {
  const { dpopKms: key, dpop } = ctx.desired;
  const observed = ctx.state.kms.dpopKey;
  const where = [`--keyring=${key.keyRing}`, `--location=${key.location}`];
  const level = key.protectionLevel;
  let versions: string[] = [];
  if (observed === undefined) {
    // Only with --dpop-kms: without it, planKeys plans no key that does not exist.
    ctx.gcloud(
      `Create Cloud KMS key ${key.key} (ES256, ${level}: signs DPoP proofs; its private key never leaves Cloud KMS)`,
      [
        'kms',
        'keys',
        'create',
        key.key,
        ...where,
        `--purpose=${DPOP_KMS.purpose}`,
        `--default-algorithm=${DPOP_KMS.algorithm}`,
        `--protection-level=${level}`,
      ],
    );
    // Cloud KMS makes version 1 with the key, as a new secret gets version 1.
    versions = [`${key.name}/cryptoKeyVersions/1`];
  } else if (
    observed.purpose !== DPOP_KMS.apiPurpose ||
    observed.algorithm !== DPOP_KMS.apiAlgorithm
  ) {
    ctx.problem(
      `Cloud KMS key ${key.name} has purpose ${observed.purpose} and algorithm ${observed.algorithm ?? 'none'}; DPoP proofs (ES256) need purpose ${DPOP_KMS.apiPurpose} with ${DPOP_KMS.apiAlgorithm}`,
    );
  } else {
    const signing = signingVersions(observed);
    for (const version of signing.filter((v) => v.algorithm !== DPOP_KMS.apiAlgorithm))
      ctx.problem(
        `Cloud KMS key ${key.name} version ${version.number} has algorithm ${version.algorithm}; DPoP proofs (ES256) need ${DPOP_KMS.apiAlgorithm}: disable that version`,
      );
    versions = signing.map((v) => `${key.name}/cryptoKeyVersions/${v.number}`);
    if (signing.length === 0 && dpop === 'kms')
      ctx.problem(
        `Cloud KMS key ${key.name} has no enabled version: create one (gcloud kms keys versions create --key=${key.key} ${where.join(' ')} --project=${key.project}) or enable one (refresh tokens bound to a version refresh only with it)`,
      );
    else if (signing.length === 0)
      ctx.note(
        `Cloud KMS key ${key.key} has no enabled version: ${DPOP_KMS.setting} is left unset`,
      );
    else if (dpop !== 'kms')
      ctx.note(
        `Cloud KMS key ${key.key} exists: kept without --dpop-kms, its enabled versions stay in ${DPOP_KMS.setting} (refresh tokens bound to them refresh only with them; version ${signing[0]?.number} binds new ones)`,
      );
    if (level === 'hsm' && observed.protectionLevel !== 'HSM')
      ctx.note(
        `Cloud KMS key ${key.key} has protection level ${observed.protectionLevel ?? 'unknown'}: --dpop-kms-hsm applies only when the key is created (a key's protection level is fixed), and the deploy never replaces it`,
      );
  }
  const signers = ctx.desired.functions
    .filter((fn) => DPOP_KMS_FUNCTIONS.includes(fn.spec.name))
    .map((fn) => `serviceAccount:${fn.serviceAccount}`);
  for (const [role, verb] of [
    [ROLES.kmsSigner, 'sign DPoP proofs with'],
    [ROLES.kmsPublicKeyViewer, 'read the public keys of'],
  ] as const)
    grant(ctx, {
      what: `Cloud KMS key ${key.key}`,
      verb,
      command: ['kms', 'keys'],
      name: key.key,
      flags: where,
      role,
      wanted: signers,
      policy: observed?.policy,
    });
  return versions;
}

function createSecret(ctx: PlanContext, title: string, name: string, stdin: SecretInput): void {
  ctx.gcloud(
    title,
    ['secrets', 'create', name, '--replication-policy=automatic', '--data-file=-'],
    {
      stdin,
    },
  );
}

/** Adds a version; returns the number it gets (the next after every existing one). */
function addVersion(
  ctx: PlanContext,
  title: string,
  existing: SecretState,
  name: string,
  stdin: SecretInput,
): string {
  ctx.gcloud(title, ['secrets', 'versions', 'add', name, '--data-file=-'], { stdin });
  return String(Math.max(0, ...existing.versions.map((v) => v.number)) + 1);
}

function readersOf(ctx: PlanContext, key: SecretKey): string[] {
  return ctx.desired.functions
    .filter((fn) => fn.spec.secrets.includes(key))
    .map((fn) => `serviceAccount:${fn.serviceAccount}`);
}

function grantReaders(ctx: PlanContext, key: SecretKey, existing: SecretState | undefined): void {
  const { name } = SECRETS[key];
  grant(ctx, {
    what: `secret ${name}`,
    verb: 'read',
    command: ['secrets'],
    name,
    flags: [],
    role: ROLES.secretAccessor,
    wanted: readersOf(ctx, key),
    policy: existing?.policy,
  });
}

interface Grant {
  /** "secret NAME", "Cloud KMS key NAME": in titles and notes. */
  readonly what: string;
  readonly verb: string;
  /** The gcloud group of the resource: ['secrets'], ['kms', 'keys']. */
  readonly command: readonly string[];
  readonly name: string;
  readonly flags: readonly string[];
  readonly role: string;
  readonly wanted: readonly string[];
  readonly policy: IamPolicy | undefined;
}

/**
 * Grants `role` on one resource to exactly `wanted` among this deployment's own service
 * accounts: a function the schema no longer gives the resource loses it (authorize held the
 * token keyset before the keyset was split). Any other member is left alone and noted.
 */
function grant(ctx: PlanContext, g: Grant): void {
  const policy = g.policy ?? { bindings: [] };
  const binding = (verb: 'add' | 'remove', member: string): string[] => [
    ...g.command,
    `${verb}-iam-policy-binding`,
    g.name,
    ...g.flags,
    `--member=${member}`,
    `--role=${g.role}`,
  ];
  for (const member of g.wanted)
    if (!hasMember(policy, g.role, member))
      ctx.gcloud(`Let ${accountOf(member)} ${g.verb} ${g.what}`, binding('add', member));
  const own = new Set([
    ...ctx.desired.functions.map((fn) => `serviceAccount:${fn.serviceAccount}`),
    `serviceAccount:${ctx.desired.schedulerAccount}`,
  ]);
  const held = membersWith(policy, g.role).filter((member) => !g.wanted.includes(member));
  for (const member of held.filter((m) => own.has(m)))
    ctx.gcloud(
      `Take ${g.role} on ${g.what} away from ${accountOf(member)} (the settings schema does not give it)`,
      binding('remove', member),
    );
  const extra = held.filter((m) => !own.has(m) && !PUBLIC_MEMBERS.includes(m));
  if (extra.length > 0)
    ctx.note(`${g.what}: ${g.role} also held by ${extra.join(', ')} (not granted by this deploy)`);
}

function kmsKeyOf(kms: KmsKey): KmsKey {
  const { project, location, keyRing, key, name } = kms;
  return { project, location, keyRing, key, name };
}

function sourceWords(source: KeysetSource, purpose: KeyPurpose): string {
  switch (source.kind) {
    case 'generated':
      return `a newly generated ${purpose} keyset`;
    case 'split':
      return `the ${purpose} keys of the master keyset in ${source.secret} version ${source.version}`;
    case 'stored':
      return `the ${purpose} keyset in its version ${source.version}`;
  }
}

function holds(content: StoredKeyset): string {
  switch (content.format) {
    case 'invalid':
      return content.reason;
    case 'master':
      return 'a master keyset';
    case 'purpose':
      return `a ${content.purpose} keyset`;
    case 'wrapped':
      return `a wrapped ${content.purpose} keyset`;
  }
}

function accountOf(member: string): string {
  return member.replace(/^serviceAccount:/, '');
}

function seconds(duration: string | undefined): number | undefined {
  const match = /^(\d+(?:\.\d+)?)s$/.exec(duration ?? '');
  return match ? Number(match[1]) : undefined;
}

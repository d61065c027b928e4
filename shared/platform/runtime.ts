// Per-instance dependencies, built once per warm instance and lazily: a function that never
// touches Firestore never loads it. Handlers receive this object explicitly; nothing reaches for
// globals. Tests build one with their own config, sink and clock.
import type { Firestore } from '@google-cloud/firestore';
import { loadConfig, type Config, type ConfigNeeds } from '../settings/config.ts';
import type { FunctionName } from '../settings/functions.ts';
import { needsOf } from '../settings/secrets.ts';
import { parseKeyset, type KeyPurpose, type Keyset, type PurposeKeys } from '../crypto/keyset.ts';
import { unwrapKeyset, wrappedKeyset, type KeyWrapper } from '../crypto/wrapped-keyset.ts';
import type { SecretSource } from '../settings/config.ts';
import { ConfigError, DPOP_KEYS_INVALID, isOperationError, KEYSET_INVALID } from '../errors.ts';
import { loadDpopKeys, type DpopKeys, type KmsSigner } from '../oauth/dpop.ts';
import { noopEventPublisher, type EventPublisher } from '../pubsub/events.ts';
import { createLogger, type Logger, type LogSink } from '../log.ts';
import { systemClock, type Clock } from '../retry/time.ts';
import type { FirestoreDocuments } from '../store/firestore-rest.ts';
import {
  createSecretStore,
  type SecretAccessor,
  type SecretStore,
} from '../secrets/secret-store.ts';

export interface Runtime {
  readonly config: Config;
  readonly log: Logger;
  readonly clock: Clock;
  readonly secrets: SecretStore;
  /**
   * One purpose's keys, from that purpose's keyset (unwrapped with Cloud KMS when it is wrapped),
   * read once per instance (docs/security.md#key-hierarchy).
   */
  keys(purpose: KeyPurpose): Promise<PurposeKeys>;
  /** Cloud KMS calls made by this instance, by kind (the bench prints them). */
  kmsCalls(): KmsCallCounts;
  /**
   * The DPoP keys (DPOP_KMS_KEYS and DPOP_KEYS), read once per instance; undefined when DPoP is
   * off.
   */
  dpopKeys(): Promise<DpopKeys | undefined>;
  clientSecret(): Promise<string>;
  firestore(): Promise<Firestore>;
  /** Firestore's REST API through Google's light client (callback and revoke). */
  documents(): Promise<FirestoreDocuments>;
  /** Connection events for the app; a no-op where the function has no Pub/Sub access. */
  events(): EventPublisher;
  /** Releases network handles (tests, CLI tools). */
  close(): Promise<void>;
}

/**
 * Heavy Google clients, injected by the functions that use them so that the others (authorize)
 * bundle none of them. See shared/platform/runner-services.ts.
 */
export interface GoogleServices {
  readonly firestore?: (config: Config) => Promise<Firestore>;
  readonly documents?: (config: Config) => Promise<FirestoreDocuments>;
  /** Publishes connection events (connected, revoked…) to EVENTS_TOPIC. */
  readonly events?: (config: Config, log: Logger, clock: Clock) => EventPublisher;
  readonly secretManager?: (endpoint: string | undefined) => Promise<SecretAccessor>;
  /** Cloud KMS, for keysets stored wrapped and DPoP keys held there (shared/secrets/kms.ts). */
  readonly kms?: (endpoint: string | undefined) => Promise<KeyWrapper & KmsSigner>;
  /** Loads and exercises the clients above without contacting anything (code-cache warm-up). */
  readonly warmUp?: (runtime: Runtime) => Promise<unknown>;
}

export interface RuntimeOptions {
  readonly config: Config;
  readonly services?: GoogleServices;
  readonly sink?: LogSink;
  readonly clock?: Clock;
  readonly secrets?: SecretStore;
  readonly firestore?: Firestore;
}

export function createRuntime(options: RuntimeOptions): Runtime {
  const { config } = options;
  const log = createLogger({
    level: config.logLevel,
    ...(options.sink ? { sink: options.sink } : {}),
  });
  const services = options.services ?? {};
  const secrets =
    options.secrets ??
    createSecretStore({
      secretManagerEndpoint: config.secretManagerEndpoint,
      loadSecretManager: services.secretManager,
    });
  const keysets = new Map<string, Promise<Keyset>>();
  let kms: Promise<KeyWrapper & KmsSigner> | undefined;
  let dpop: Promise<DpopKeys> | undefined;
  const kmsCalls = { unwrap: 0, publicKey: 0, sign: 0 };
  const kmsClient = (): Promise<KeyWrapper & KmsSigner> => {
    if (services.kms === undefined)
      return Promise.reject(
        new ConfigError(['Cloud KMS is configured, but this function has no KMS access']),
      );
    kms ??= services.kms(config.kmsEndpoint);
    kms.catch(() => (kms = undefined));
    return kms;
  };
  /** A keyset setting read, unwrapped and parsed once; problems name the setting. */
  const keysetOf = (source: SecretSource): Promise<Keyset> => {
    let loaded = keysets.get(source.setting);
    if (!loaded) {
      loaded = (async () => {
        try {
          const stored = await secrets.read(source);
          const wrapped = wrappedKeyset(stored);
          if (!wrapped) return parseKeyset(stored);
          kmsCalls.unwrap += 1;
          return parseKeyset(await unwrapKeyset(await kmsClient(), wrapped));
        } catch (error) {
          if (isOperationError(error, KEYSET_INVALID))
            throw new ConfigError([`${source.setting}: ${error.message}`]);
          throw error;
        }
      })();
      keysets.set(source.setting, loaded);
      loaded.catch(() => keysets.delete(source.setting));
    }
    return loaded;
  };
  let documents: Promise<FirestoreDocuments> | undefined;
  let events: EventPublisher | undefined;
  let firestore: Promise<Firestore> | undefined = options.firestore
    ? Promise.resolve(options.firestore)
    : undefined;

  return {
    config,
    log,
    clock: options.clock ?? systemClock,
    secrets,
    async keys(purpose) {
      const { own, setting } = purposeSource(config, purpose);
      const source = own ?? config.tokenKeyset;
      if (!source) throw new ConfigError([`${setting}: is required`]);
      const keyset = await keysetOf(source);
      // A master TOKEN_KEYSET derives every purpose (one local file); a purpose keyset only its own.
      if (own === undefined && keyset.purpose !== null && keyset.purpose !== purpose)
        throw new ConfigError([
          `${setting}: is required (${source.setting} holds ${keyset.purpose} keys only)`,
        ]);
      try {
        return keyset.forPurpose(purpose);
      } catch (error) {
        if (isOperationError(error, KEYSET_INVALID))
          throw new ConfigError([`${source.setting}: ${error.message}`]);
        throw error;
      }
    },
    kmsCalls: () => ({ ...kmsCalls }),
    dpopKeys() {
      const { dpopKeys: source, dpopKmsKeys: versions } = config;
      if (!source && versions.length === 0) return Promise.resolve(undefined);
      dpop ??= (async () => {
        try {
          const secretJson = source ? await secrets.read(source) : undefined;
          if (versions.length === 0) return await loadDpopKeys({ secretJson });
          const client = await kmsClient();
          const signer: KmsSigner = {
            publicKeyPem: (version) => ((kmsCalls.publicKey += 1), client.publicKeyPem(version)),
            signDigest: (version, digest) => (
              (kmsCalls.sign += 1),
              client.signDigest(version, digest)
            ),
          };
          return await loadDpopKeys({ secretJson, kms: { signer, versions } });
        } catch (error) {
          if (isOperationError(error, DPOP_KEYS_INVALID))
            throw new ConfigError([`${source?.setting ?? 'DPOP_KMS_KEYS'}: ${error.message}`]);
          throw error;
        }
      })();
      dpop.catch(() => (dpop = undefined));
      return dpop;
    },
    clientSecret() {
      if (!config.clientSecret) throw new ConfigError(['OAUTH_CLIENT_SECRET: is required']);
      return secrets.read(config.clientSecret);
    },
    firestore() {
      if (firestore === undefined) {
        if (services.firestore === undefined)
          throw new Error('this function has no Firestore access');
        firestore = services.firestore(config);
      }
      return firestore;
    },
    documents() {
      if (documents === undefined) {
        if (services.documents === undefined)
          return Promise.reject(new Error('this function has no Firestore REST access'));
        documents = services.documents(config);
        documents.catch(() => (documents = undefined));
      }
      return documents;
    },
    events() {
      events ??= services.events?.(config, log, options.clock ?? systemClock) ?? noopEventPublisher;
      return events;
    },
    async close() {
      await events?.close?.();
      if (firestore) await (await firestore).terminate();
    },
  };
}

const PURPOSE_SETTINGS = {
  token: ['tokenKeyset', 'TOKEN_KEYSET'],
  cookie: ['cookieKeyset', 'COOKIE_KEYSET'],
  link: ['linkKeyset', 'LINK_KEYSET'],
  connect: ['connectKeyset', 'CONNECT_KEYSET'],
} as const satisfies Record<KeyPurpose, readonly [keyof Config, string]>;

function purposeSource(
  config: Config,
  purpose: KeyPurpose,
): { own: SecretSource | undefined; setting: string } {
  const [key, setting] = PURPOSE_SETTINGS[purpose];
  return { own: config[key], setting };
}

/** The key purposes a function uses: those whose keyset the settings schema gives it. */
export interface KmsCallCounts {
  /** Keysets unwrapped (one per wrapped keyset and instance). */
  readonly unwrap: number;
  /** DPoP public keys read (one per KMS key version and instance). */
  readonly publicKey: number;
  /** DPoP proofs signed in KMS (one per code exchange or refresh, and per nonce retry). */
  readonly sign: number;
}

export function purposesOf(needs: ConfigNeeds): KeyPurpose[] {
  return (Object.keys(PURPOSE_SETTINGS) as KeyPurpose[]).filter(
    (purpose) => needs[PURPOSE_SETTINGS[purpose][0]] === true,
  );
}

/**
 * The runtime of a deployed function: settings from the environment, validated at start-up, and
 * key material checked at start-up too. A configuration error stops the instance with a message
 * naming each setting (Cloud Run reports the failed start) instead of serving 500s; there is never
 * a plaintext fallback.
 */
export function runtimeFromEnvironment(
  env: Record<string, string | undefined>,
  /** The function this instance is (its secrets come from the settings schema), or its needs. */
  scope: FunctionName | ConfigNeeds,
  services: GoogleServices = {},
): Runtime {
  const needs = typeof scope === 'string' ? needsOf(scope) : scope;
  // The public functions answer every request with our own listener (shared/platform/serve-http.ts);
  // the event functions (dispatcher, worker) still take their pushes through functions-framework's
  // Express, which answers an unparseable body itself, with a stack trace unless NODE_ENV is
  // production. The framework builds its app after loading this module, so setting it here covers
  // every deployment, whatever the platform sets.
  env.NODE_ENV = 'production';
  const stop = (error: ConfigError): never => {
    createLogger().error(error.message, { problems: error.problems });
    process.exit(78); // EX_CONFIG
  };
  let runtime: Runtime;
  try {
    runtime = createRuntime({ config: loadConfig(env, needs), services });
  } catch (error) {
    if (error instanceof ConfigError) return stop(error);
    throw error;
  }
  // Build time only (infra/build.ts): exercise the lazily loaded clients so that the V8 code
  // cache shipped with the function holds their compiled code too. Contacts nothing.
  if (env.CODE_CACHE_WARM_UP === '1')
    (globalThis as { codeCacheWarmUp?: Promise<unknown> }).codeCacheWarmUp =
      services.warmUp?.(runtime);
  // Every keyset this function uses is read (and unwrapped) at start-up: a missing or wrong key,
  // or KMS refusing, stops the instance with the setting named, before any request.
  for (const purpose of purposesOf(needs))
    runtime.keys(purpose).catch((error: unknown) => {
      if (error instanceof ConfigError) stop(error);
      runtime.log.error('cannot load a keyset', {
        purpose,
        setting: PURPOSE_SETTINGS[purpose][1],
        error,
      });
      process.exit(78);
    });
  // The DPoP keys too (a KMS key version's public key is read here): a key KMS will not show
  // stops the instance rather than failing every consent.
  if (needs.dpopKeys === true)
    runtime.dpopKeys().catch((error: unknown) => {
      if (error instanceof ConfigError) stop(error);
      runtime.log.error('cannot load the DPoP keys', { error });
      process.exit(78);
    });
  return runtime;
}

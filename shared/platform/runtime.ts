// Per-instance dependencies, built once per warm instance and lazily: a function that never
// touches Firestore never loads it. Handlers receive this object explicitly; nothing reaches for
// globals. Tests build one with their own config, sink and clock.
import type { Firestore } from '@google-cloud/firestore';
import { loadConfig, type Config, type ConfigNeeds } from '../settings/config.ts';
import type { FunctionName } from '../settings/functions.ts';
import { needsOf } from '../settings/secrets.ts';
import { parseKeyset, type Keyset } from '../crypto/keyset.ts';
import { ConfigError, isOperationError, KEYSET_INVALID } from '../errors.ts';
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
  keyset(): Promise<Keyset>;
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
  let keyset: Promise<Keyset> | undefined;
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
    keyset() {
      keyset ??= (async () => {
        if (!config.tokenKeyset) throw new ConfigError(['TOKEN_KEYSET: is required']);
        try {
          return parseKeyset(await secrets.read(config.tokenKeyset));
        } catch (error) {
          if (isOperationError(error, KEYSET_INVALID))
            throw new ConfigError([`${config.tokenKeyset.setting}: ${error.message}`]);
          throw error;
        }
      })();
      keyset.catch(() => (keyset = undefined));
      return keyset;
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
  // Express inside the functions-framework answers unparseable bodies itself, with a stack trace
  // unless NODE_ENV is production. The framework builds its app after loading this module, so
  // setting it here covers every deployment, whatever the platform sets.
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
  if (needs.tokenKeyset === true) {
    runtime.keyset().catch((error: unknown) => {
      if (error instanceof ConfigError) stop(error);
      runtime.log.error('cannot load the token keyset', { error });
      process.exit(78);
    });
  }
  return runtime;
}

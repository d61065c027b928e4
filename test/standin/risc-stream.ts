// The RISC transmitter: the project's one event stream (receiver URL, events requested,
// enabled or disabled) and push delivery of Security Event Tokens to it (RFC 8935), with a record
// of every delivery for tests. Deliveries run one at a time in the order they were queued, so a
// test sees them in emission order; `settled()` waits for the queue.
import { setTimeout as sleep } from 'node:timers/promises';
import type { OAuthStore } from './oauth-store.ts';
import {
  RISC_EVENT_TYPES,
  eventNameOf,
  setPayload,
  type RiscEventName,
  type SetPayloadInput,
} from './risc-events.ts';
import type { RiscKeys } from './risc-keys.ts';
import { USERINFO_EMAIL, USERINFO_PROFILE } from './scopes.ts';

/** One push of one SET to the receiver, after any retry. */
export interface RiscDelivery {
  jti: string;
  /** Short name, e.g. `tokens-revoked`; undefined for a raw SET whose event is none of them. */
  event: RiscEventName | undefined;
  /** The event type URI. */
  eventType: string;
  /** `aud`: the OAuth client the SET is for. */
  clientId: string;
  /** The user's `sub`; undefined for verification. */
  sub: string | undefined;
  url: string;
  /** The receiver's HTTP status on the last attempt; 0 when it gave none (refused, timed out). */
  status: number;
  /** 1, or 2 after a retry. */
  attempts: number;
  /** The compact SET as sent (for replay tests). */
  set: string;
  /** Wall-clock time of the first attempt (ISO). */
  at: string;
}

export interface RiscStreamConfig {
  url: string;
  eventsRequested: string[];
}

/** A user's grant that Google would send events about. */
export interface RiscTarget {
  clientId: string;
  /** undefined for verification, which is about the stream. */
  sub: string | undefined;
}

/** Google retries a failed push; the stand-in once, after this delay. */
export const RISC_RETRY_DELAY_MS = 200;
const ATTEMPT_TIMEOUT_MS = 10_000;

export class RiscTransmitter {
  readonly keys: RiscKeys;
  readonly #oauth: OAuthStore;
  #config: RiscStreamConfig | undefined;
  #enabled = true;
  #deliveries: RiscDelivery[] = [];
  #tail: Promise<unknown> = Promise.resolve();
  /** Aborted by reset() and close(): a delivery queued before them is dropped, not recorded. */
  #abort = new AbortController();

  constructor(keys: RiscKeys, oauth: OAuthStore) {
    this.keys = keys;
    this.#oauth = oauth;
  }

  config(): RiscStreamConfig | undefined {
    return (
      this.#config && { url: this.#config.url, eventsRequested: [...this.#config.eventsRequested] }
    );
  }

  configure(config: RiscStreamConfig): void {
    this.#config = { url: config.url, eventsRequested: [...config.eventsRequested] };
  }

  enabled(): boolean {
    return this.#enabled;
  }

  setEnabled(enabled: boolean): void {
    this.#enabled = enabled;
  }

  /**
   * The user's grants Google sends events about: only those holding `email` or `profile` (the
   * prerequisite Google documents), of clients not deleted; `clientId` narrows to one.
   */
  targets(email: string, clientId?: string): RiscTarget[] {
    return this.#oauth
      .grantsOf(email)
      .filter((g) => clientId === undefined || g.clientId === clientId)
      .filter((g) => g.scopes.has(USERINFO_EMAIL) || g.scopes.has(USERINFO_PROFILE))
      .filter((g) => this.#oauth.clients.get(g.clientId)?.deleted === false)
      .map((g) => ({ clientId: g.clientId, sub: g.sub }));
  }

  /**
   * One SET per target, if the stream is configured and enabled and asked for this event;
   * otherwise nothing is sent. Resolves when these deliveries are done.
   */
  emit(
    targets: readonly RiscTarget[],
    event: Omit<SetPayloadInput, 'clientId' | 'sub'>,
  ): Promise<RiscDelivery[]> {
    const config = this.#config;
    if (!config || !this.#enabled) return Promise.resolve([]);
    if (!config.eventsRequested.includes(RISC_EVENT_TYPES[event.event])) return Promise.resolve([]);
    // Signed first, so a bad event throws before anything is queued.
    const sets = targets.map((t) => ({
      sub: t.sub,
      set: this.keys.sign(setPayload({ ...event, clientId: t.clientId, ...optionalSub(t.sub) })),
    }));
    return Promise.all(sets.map(({ set, sub }) => this.#enqueue(config.url, set, sub))).then(
      (all) => all.filter((d): d is RiscDelivery => d !== undefined),
    );
  }

  /** stream:verify: a verification SET with `state`, for `clientId` (see risc-api.ts). */
  verify(clientId: string, state: string | undefined): Promise<RiscDelivery[]> {
    return this.emit([{ clientId, sub: undefined }], {
      event: 'verification',
      ...(state !== undefined ? { state } : {}),
    });
  }

  /** Pushes a SET exactly as given to the configured receiver, whatever the status and events. */
  async deliverRaw(set: string): Promise<RiscDelivery> {
    const config = this.#config;
    if (!config) throw new RangeError('no RISC stream is configured (stream:update first)');
    const delivery = await this.#enqueue(config.url, set, undefined);
    if (!delivery) throw new Error('RISC delivery dropped by reset or close');
    return delivery;
  }

  deliveries(): RiscDelivery[] {
    return this.#deliveries.map((d) => ({ ...d }));
  }

  /** Waits until every delivery queued so far is done; then every delivery so far. */
  async settled(): Promise<RiscDelivery[]> {
    let tail: Promise<unknown>;
    do {
      tail = this.#tail;
      await tail;
    } while (tail !== this.#tail);
    return this.deliveries();
  }

  /** No stream, status enabled, no record; queued deliveries are dropped. Keys stay. */
  reset(): void {
    this.#abort.abort();
    this.#abort = new AbortController();
    this.#config = undefined;
    this.#enabled = true;
    this.#deliveries = [];
  }

  close(): void {
    this.#abort.abort();
  }

  /** `sub`: the user the SET is about, for the record (a token-revoked subject names none). */
  #enqueue(url: string, set: string, sub: string | undefined): Promise<RiscDelivery | undefined> {
    const signal = this.#abort.signal;
    const run = this.#tail.then(() => this.#push({ url, set, sub }, signal));
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async #push(
    job: { url: string; set: string; sub: string | undefined },
    signal: AbortSignal,
  ): Promise<RiscDelivery | undefined> {
    const { url, set } = job;
    if (signal.aborted) return undefined;
    const at = new Date().toISOString();
    let status = await attempt(url, set, signal);
    let attempts = 1;
    // Retry once what may be transient (no answer, 5xx, anything but 2xx and 4xx); a 4xx is the
    // receiver refusing this SET, and sending it again would be refused again.
    if (!isSuccess(status) && !isRefusal(status) && !signal.aborted) {
      await sleep(RISC_RETRY_DELAY_MS, undefined, { signal }).catch(() => undefined);
      if (!signal.aborted) {
        status = await attempt(url, set, signal);
        attempts = 2;
      }
    }
    if (signal.aborted) return undefined;
    const described = describeSet(set);
    const delivery: RiscDelivery = {
      ...described,
      sub: job.sub ?? described.sub,
      url,
      status,
      attempts,
      set,
      at,
    };
    this.#deliveries.push(delivery);
    return { ...delivery };
  }
}

const isSuccess = (status: number): boolean => status >= 200 && status <= 299;
const isRefusal = (status: number): boolean => status >= 400 && status <= 499;

/** One POST of the raw SET (RFC 8935 §2); the receiver's status, or 0 for no answer. */
async function attempt(url: string, set: string, signal: AbortSignal): Promise<number> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/secevent+jwt', accept: 'application/json' },
      body: set,
      redirect: 'manual',
      signal: AbortSignal.any([signal, AbortSignal.timeout(ATTEMPT_TIMEOUT_MS)]),
    });
    await res.arrayBuffer().catch(() => undefined);
    return res.status;
  } catch {
    return 0;
  }
}

/** What the record says about a SET, read from its payload (best effort: raw SETs may be junk). */
function describeSet(
  set: string,
): Pick<RiscDelivery, 'jti' | 'event' | 'eventType' | 'clientId' | 'sub'> {
  let payload: Record<string, unknown> = {};
  try {
    const value: unknown = JSON.parse(Buffer.from(set.split('.')[1] ?? '', 'base64url').toString());
    if (typeof value === 'object' && value !== null) payload = value as Record<string, unknown>;
  } catch {
    // Not a JWT: recorded with empty fields.
  }
  const events = payload['events'];
  const first: [string, unknown] | undefined =
    typeof events === 'object' && events !== null
      ? Object.entries(events as Record<string, unknown>)[0]
      : undefined;
  const [eventType, body] = first ?? ['', undefined];
  const subject = (body as { subject?: { sub?: unknown } } | undefined)?.subject;
  return {
    jti: typeof payload['jti'] === 'string' ? payload['jti'] : '',
    event: eventNameOf(eventType),
    eventType,
    clientId: typeof payload['aud'] === 'string' ? payload['aud'] : '',
    sub: typeof subject?.sub === 'string' ? subject.sub : undefined,
  };
}

const optionalSub = (sub: string | undefined): { sub?: string } =>
  sub === undefined ? {} : { sub };

// The two messages of a run and their parsing from Pub/Sub CloudEvents. A Pub/Sub CloudEvent
// carries `data.message` (base64 `data`, `attributes`, `messageId`, `publishTime`) and, with a
// dead-letter policy, `deliveryAttempt` (in the push envelope or the message).
import { BAD_MESSAGE, OperationError } from '../errors.ts';
import { parseRunId } from './run-id.ts';
import { isValidSub } from '../store/connection/document.ts';

export interface PubSubDelivery {
  readonly messageId: string;
  readonly publishTime: string | undefined;
  readonly data: Buffer;
  readonly attributes: Readonly<Record<string, string>>;
  /** From the platform when a dead-letter policy is set; else undefined. */
  readonly deliveryAttempt: number | undefined;
}

/** Minimal CloudEvent shape (functions-framework's CloudEvent<T> satisfies it). */
export interface CloudEventLike {
  readonly id?: string;
  readonly time?: string;
  readonly data?: unknown;
}

/** A work batch: which users, for which run. */
export interface WorkBatch {
  readonly v: 1;
  readonly runId: string;
  readonly batchId: string;
  readonly subs: readonly string[];
}

/** A scheduler tick. Cloud Scheduler's body may be anything; `scheduledTime` is optional. */
export interface Tick {
  readonly scheduledAt: number;
}

function badMessage(why: string): OperationError {
  return new OperationError(BAD_MESSAGE, `malformed message: ${why}`);
}

export const MAX_BATCH_USERS = 500;

export function deliveryFromCloudEvent(event: CloudEventLike): PubSubDelivery {
  const data = event.data;
  if (typeof data !== 'object' || data === null) throw badMessage('no Pub/Sub data');
  const envelope = data as { message?: unknown; deliveryAttempt?: unknown };
  const message = envelope.message;
  if (typeof message !== 'object' || message === null) throw badMessage('no message');
  const fields = message as Record<string, unknown>;
  const attempt = Number(
    envelope.deliveryAttempt ?? fields.deliveryAttempt ?? fields.delivery_attempt,
  );
  const attributes: Record<string, string> = {};
  if (typeof fields.attributes === 'object' && fields.attributes !== null)
    for (const [key, value] of Object.entries(fields.attributes))
      if (typeof value === 'string') attributes[key] = value;
  const messageId = fields.messageId ?? fields.message_id ?? event.id;
  if (typeof messageId !== 'string' || messageId === '') throw badMessage('no message id');
  return {
    messageId,
    publishTime:
      typeof fields.publishTime === 'string' ? fields.publishTime : (event.time ?? undefined),
    data: typeof fields.data === 'string' ? Buffer.from(fields.data, 'base64') : Buffer.alloc(0),
    attributes,
    deliveryAttempt: Number.isInteger(attempt) && attempt > 0 ? attempt : undefined,
  };
}

export function parseWorkBatch(delivery: PubSubDelivery): WorkBatch {
  let parsed: unknown;
  try {
    parsed = JSON.parse(delivery.data.toString('utf8'));
  } catch {
    throw badMessage('not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null) throw badMessage('not an object');
  const { v, runId, batchId, subs } = parsed as Record<string, unknown>;
  if (v !== 1) throw badMessage('unknown version');
  if (typeof runId !== 'string' || parseRunId(runId) === undefined) throw badMessage('bad runId');
  if (typeof batchId !== 'string' || !/^b\d{1,9}$/.test(batchId)) throw badMessage('bad batchId');
  if (!Array.isArray(subs) || subs.length === 0 || subs.length > MAX_BATCH_USERS)
    throw badMessage('bad subs');
  for (const sub of subs)
    if (typeof sub !== 'string' || !isValidSub(sub)) throw badMessage('bad sub');
  return { v: 1, runId, batchId, subs: [...new Set(subs as string[])] };
}

/** The scheduled time: the body's `scheduledTime` if any, else the publish time. */
export function parseTick(delivery: PubSubDelivery, fallbackNow: number): Tick {
  let scheduled: unknown;
  try {
    const body: unknown = JSON.parse(delivery.data.toString('utf8') || '{}');
    if (typeof body === 'object' && body !== null)
      scheduled = (body as Record<string, unknown>).scheduledTime;
  } catch {
    // Cloud Scheduler bodies are free text; fall back to the publish time.
  }
  for (const candidate of [scheduled, delivery.attributes.scheduledTime, delivery.publishTime]) {
    if (typeof candidate === 'string') {
      const time = Date.parse(candidate);
      if (!Number.isNaN(time)) return { scheduledAt: time };
    }
  }
  return { scheduledAt: fallbackNow };
}

export function batchId(index: number): string {
  return `b${String(index).padStart(6, '0')}`;
}

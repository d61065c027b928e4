// Connection events, published as JSON to config.pubsub.eventsTopic for the app to react to
// (email the user, page an operator; docs/operations.md#events). An event names the user by the
// Google `sub` and, when the connection was made through a connect link, the app's own user id.
// It never carries a token or a message text; a failed publish is logged, never fatal.
import type { Logger } from '../log.ts';
import type { TopicPublisher } from './publisher.ts';

export type ConnectionEventType =
  | 'connected'
  | 'needs-reconnect'
  | 'revoked'
  /** Google refused a revocation for good: the operator must complete it. */
  | 'revoke-failed'
  /** A job needs scopes the grant lacks: ask the user for an incremental consent. */
  | 'consent-needed'
  /** A job needs per-user settings the app has not set (or that no longer validate). */
  | 'settings-needed'
  /** A job failed for good this period (its other jobs went on). */
  | 'job-failed'
  /** Google's Cross-Account Protection said something about the user (`reason` says what). */
  | 'security-event'
  | 'run-halted';

export interface ConnectionEvent {
  readonly type: ConnectionEventType;
  readonly sub?: string;
  readonly appUserId?: string;
  readonly runId?: string;
  readonly job?: string;
  /** consent-needed: the scopes to ask for. */
  readonly scopes?: readonly string[];
  /** A stable code (`invalid_grant`, `scope:<url>`, `invalid_client`…), never free text. */
  readonly reason?: string;
  /** ISO time. */
  readonly at: string;
}

/** `{ appUserId }` for an event, when the connection names the app's user; else nothing. */
export function appUserOf(connection: { readonly appUserId: string | null }): {
  appUserId?: string;
} {
  return connection.appUserId === null ? {} : { appUserId: connection.appUserId };
}

export interface EventPublisher {
  emit(event: Omit<ConnectionEvent, 'at'> & { at?: string }): Promise<void>;
  /** Flushes and releases the connection, where there is one. */
  close?(): Promise<void>;
}

export function createEventPublisher(
  publisher: TopicPublisher,
  topic: string,
  log: Logger,
  now: () => number = Date.now,
): EventPublisher {
  return {
    async emit(event) {
      const full: ConnectionEvent = { ...event, at: event.at ?? new Date(now()).toISOString() };
      try {
        await publisher.publish(topic, full, { type: full.type });
      } catch (error) {
        log.warn('cannot publish connection event', { eventType: full.type, sub: full.sub, error });
      }
    },
    close: () => publisher.close(),
  };
}

/** Records events in memory (tests). */
export function memoryEventPublisher(): EventPublisher & { readonly events: ConnectionEvent[] } {
  const events: ConnectionEvent[] = [];
  return {
    events,
    emit(event) {
      events.push({ ...event, at: event.at ?? new Date().toISOString() });
      return Promise.resolve();
    },
  };
}

export const noopEventPublisher: EventPublisher = { emit: () => Promise.resolve() };

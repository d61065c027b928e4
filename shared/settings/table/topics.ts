// The 'topics' settings: Pub/Sub topic names; the deploy creates these topics.
// One part of the settings table (../schema.ts).
import type { SettingSpec } from '../schema.ts';
import { STORING } from './function-sets.ts';

const TOPIC = /^[A-Za-z][\w.~+%-]{2,254}$/;

export const TOPICS_SETTINGS = [
  {
    name: 'TICK_TOPIC',
    group: 'topics',
    doc: "Topic Cloud Scheduler publishes to; the dispatcher's trigger.",
    kind: 'text',
    pattern: TOPIC,
    default: 'consent-vault-tick',
    setBy: 'operator',
    functions: [],
  },
  {
    name: 'WORK_TOPIC',
    group: 'topics',
    doc: "Batches of users, published by the dispatcher; the worker's trigger.",
    kind: 'text',
    pattern: TOPIC,
    default: 'consent-vault-work',
    setBy: 'operator',
    functions: ['dispatcher'],
  },
  {
    name: 'EVENTS_TOPIC',
    group: 'topics',
    doc: 'Connection events for your app (connected, needs-reconnect, consent-needed, job-failed, revoked…; docs/operations.md).',
    kind: 'text',
    pattern: TOPIC,
    default: 'consent-vault-events',
    setBy: 'operator',
    functions: STORING,
  },
  {
    name: 'DEAD_LETTER_TOPIC',
    group: 'topics',
    doc: 'Poison work and tick messages, after 5 delivery attempts.',
    kind: 'text',
    pattern: TOPIC,
    default: 'consent-vault-dead-letter',
    setBy: 'operator',
    functions: [],
  },
] as const satisfies readonly SettingSpec[];

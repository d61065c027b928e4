// The 'app' settings: what users see and what runs for them.
// One part of the settings table (../schema.ts).
import type { SettingSpec } from '../schema.ts';
import { ALL } from './function-sets.ts';

export const APP_SETTINGS = [
  {
    name: 'APP_NAME',
    group: 'app',
    doc: 'Shown on every page.',
    kind: 'text',
    maxLength: 80,
    default: 'consent-vault',
    setBy: 'operator',
    functions: ['authorize', 'callback', 'revoke'],
  },
  {
    name: 'JOBS',
    group: 'app',
    doc: 'Comma-separated jobs to run, in order: built-ins and the app’s `jobs/` files (docs/jobs.md).',
    kind: 'list',
    item: /^[a-z][a-z0-9-]*$/,
    default: 'drive-export',
    setBy: 'operator',
    functions: ['authorize', 'callback', 'dispatcher', 'worker'],
  },
  {
    name: 'CONNECT_LINK_REQUIRED',
    group: 'app',
    doc: 'Refuse a consent that does not start from a connect link the app minted for its user.',
    kind: 'boolean',
    default: 'false',
    setBy: 'operator',
    functions: ['authorize'],
  },
  {
    name: 'APP_USER_SECOND_ACCOUNT',
    group: 'app',
    doc: 'An app user connecting a second Google account: refuse it, or replace (revoke) the first.',
    kind: 'one-of',
    values: ['refuse', 'replace'],
    default: 'refuse',
    setBy: 'operator',
    functions: ['callback'],
  },
  {
    name: 'TRANSACTION_TTL_SECONDS',
    group: 'app',
    doc: 'Lifetime of a consent transaction (the sealed cookie from authorize to callback), in seconds.',
    kind: 'integer',
    min: 60,
    max: 3600,
    default: '600',
    setBy: 'operator',
    functions: ['authorize', 'callback'],
  },
  {
    name: 'LOG_LEVEL',
    group: 'app',
    doc: 'Lowest severity written to the log.',
    kind: 'one-of',
    values: ['DEBUG', 'INFO', 'WARNING', 'ERROR'],
    default: 'INFO',
    setBy: 'operator',
    functions: ALL,
  },
] as const satisfies readonly SettingSpec[];

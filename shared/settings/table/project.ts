// The 'project' settings: where it runs, the OAuth client, the two secrets.
// One part of the settings table (../schema.ts).
import type { SettingSpec } from '../schema.ts';
import { ALL, STORING } from './function-sets.ts';

export const PROJECT_SETTINGS = [
  {
    name: 'GOOGLE_CLOUD_PROJECT',
    group: 'project',
    doc: 'Project id (Firestore, Pub/Sub).',
    kind: 'text',
    pattern: /^[a-z][a-z0-9-]{4,61}[a-z0-9]$/,
    required: true,
    setBy: 'deploy',
    deployDefault: 'the value of --project',
    functions: STORING,
  },
  {
    name: 'FIRESTORE_DATABASE',
    group: 'project',
    doc: 'Firestore database id; the deploy creates it in native mode when missing.',
    kind: 'text',
    pattern: /^(\(default\)|[a-z][a-z0-9-]{2,61}[a-z0-9])$/,
    default: '(default)',
    setBy: 'operator',
    functions: STORING,
  },
  {
    name: 'OAUTH_CLIENT_ID',
    group: 'project',
    doc: 'The OAuth 2.0 client, type Web application (APIs & Services > Credentials).',
    kind: 'text',
    pattern: /^[\w.-]+$/,
    required: true,
    example: '123456789012-abcdefghijklmnopqrstuvwxyz012345.apps.googleusercontent.com',
    setBy: 'operator',
    functions: ['authorize', 'callback', 'dispatcher', 'worker'],
  },
  {
    name: 'OAUTH_CLIENT_SECRET',
    group: 'project',
    doc: 'The OAuth client secret: only the functions that exchange or refresh tokens hold it.',
    kind: 'secret',
    key: 'clientSecret',
    secretId: 'consent-vault-oauth-client-secret',
    required: true,
    setBy: 'deploy',
    functions: ['callback', 'dispatcher', 'worker'],
  },
  {
    name: 'TOKEN_KEYSET',
    group: 'project',
    doc: 'The token keyset (AES-256-GCM keys by id, one primary); authorize accepts only the value.',
    kind: 'secret',
    key: 'tokenKeyset',
    secretId: 'consent-vault-token-keyset',
    required: true,
    setBy: 'deploy',
    functions: ALL,
  },
] as const satisfies readonly SettingSpec[];

// The 'local' settings: never on a deployed function.
// One part of the settings table (../schema.ts).
import type { SettingSpec } from '../schema.ts';
import { STORING } from './function-sets.ts';

export const LOCAL_SETTINGS = [
  {
    name: 'FIRESTORE_EMULATOR_HOST',
    group: 'local',
    doc: 'host:port of the Firestore emulator.',
    kind: 'host-port',
    setBy: 'local',
    functions: STORING,
  },
  {
    name: 'PUBSUB_EMULATOR_HOST',
    group: 'local',
    doc: 'host:port of the Pub/Sub emulator.',
    kind: 'host-port',
    setBy: 'local',
    functions: STORING,
  },
  {
    name: 'KMS_ENDPOINT',
    group: 'local',
    doc: 'Cloud KMS API endpoint (tests point it at a local server); Google when unset.',
    kind: 'url',
    setBy: 'local',
    functions: STORING,
  },
  {
    name: 'SECRET_MANAGER_ENDPOINT',
    group: 'local',
    doc: 'Secret Manager API endpoint (tests point it at a local server); Google when unset.',
    kind: 'url',
    setBy: 'local',
    functions: STORING,
  },
] as const satisfies readonly SettingSpec[];

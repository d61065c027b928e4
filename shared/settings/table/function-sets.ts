// Function sets the settings tables name (./*.ts).
import type { FunctionName } from '../functions.ts';

export const ALL: readonly FunctionName[] = [
  'authorize',
  'callback',
  'revoke',
  'dispatcher',
  'worker',
  'risc',
];
/** Functions that talk to Firestore and Pub/Sub. */
export const STORING: readonly FunctionName[] = [
  'callback',
  'revoke',
  'dispatcher',
  'worker',
  'risc',
];
export const RUNNERS: readonly FunctionName[] = ['dispatcher', 'worker'];

// The six deployed functions. The settings schema says which of them need each setting and the
// deploy (infra/deploy/resources.ts) builds one Cloud Run function per name, so the names live
// here, below both: infra imports them from shared, never the other way round.
export const FUNCTION_NAMES = [
  'authorize',
  'callback',
  'revoke',
  'dispatcher',
  'worker',
  'risc',
] as const;

export type FunctionName = (typeof FUNCTION_NAMES)[number];

// When rotate-keys may re-seal or drop a key on a project (infra/ops/token-functions.ts): only once
// every function holding the token keyset pins the version read, has finished deploying, and its
// previous revision's requests (up to its timeout) are over; a region the list could not reach
// blocks too. Table-driven.
import { describe, expect, it } from 'vitest';
import {
  unsafeToReseal,
  type TokenFunction,
  type TokenFunctions,
} from '../../infra/ops/token-functions.ts';

const NOW = new Date('2026-03-01T12:00:00Z');
const HOUR_AGO = new Date(NOW.getTime() - 3600_000);
const worker: TokenFunction = {
  name: 'worker',
  region: 'europe-west1',
  state: 'ACTIVE',
  version: '7',
  updated: HOUR_AGO,
  timeoutSeconds: 540,
  database: '(default)',
};
const deployed = (changes: Partial<TokenFunction>, unreachable: string[] = []): TokenFunctions => ({
  functions: [
    { ...worker, name: 'callback', timeoutSeconds: 60 },
    { ...worker, ...changes },
  ],
  unreachable,
});
const REDEPLOY = 'npm run deploy -- --project p --region europe-west1';

describe('unsafeToReseal', () => {
  it.each<[string, TokenFunctions, RegExp | undefined]>([
    ['every function pins the version, deployed an hour ago', deployed({}), undefined],
    ['a newer version pinned is fine', deployed({ version: '8' }), undefined],
    ['nothing deployed yet: nothing to break', { functions: [], unreachable: [] }, undefined],
    [
      'an older version',
      deployed({ version: '6' }),
      /^worker \(europe-west1\) pins version 6, not 7: npm run deploy -- --project p --region europe-west1$/,
    ],
    ['an alias', deployed({ version: 'latest' }), /pins "latest", not a version number/],
    ['still deploying', deployed({ state: 'DEPLOYING' }), /is DEPLOYING: wait for its deploy/],
    [
      'deployed 5 minutes ago with a 540 s timeout',
      deployed({ updated: new Date(NOW.getTime() - 300_000) }),
      /may run until 2026-03-01T12:04:00\.000Z \(its 540 s timeout\)/,
    ],
    ['a region not reached', deployed({}, ['asia-east1']), /region asia-east1 could not be listed/],
  ])('%s', (_, functions, reason) => {
    const reasons = unsafeToReseal(functions, 7, NOW, REDEPLOY);
    if (reason === undefined) expect(reasons).toEqual([]);
    else {
      expect(reasons).toHaveLength(1);
      expect(reasons[0]).toMatch(reason);
    }
  });
});

// npm run connect-link -- <app user id> [--authorize-url URL] [--minutes N]
// Prints a signed, single-use connect link for one of the app's users (what the app's backend
// gets from POST …/connect-links; docs/jobs.md#connect-links). The keyset is read like
// `npm run unsubscribe-link` reads it.
import { parseArgs } from 'node:util';
import {
  APP_USER_ID,
  CONNECT_LINK_MAX_SECONDS,
  createConnectLink,
} from '../../shared/web/connect-link.ts';
import { cliKeyset } from './cli-keyset.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    'authorize-url': {
      type: 'string',
      default: process.env.AUTHORIZE_URL ?? 'http://localhost:8081/',
    },
    minutes: { type: 'string', default: '15' },
  },
});
const appUserId = positionals[0];
const minutes = Number(values.minutes);
if (
  appUserId === undefined ||
  !APP_USER_ID.test(appUserId) ||
  !(Number.isInteger(minutes) && minutes >= 1 && minutes * 60 <= CONNECT_LINK_MAX_SECONDS)
) {
  console.error(
    'usage: npm run connect-link -- <app user id> [--authorize-url URL] [--minutes 1..60]',
  );
  process.exit(2);
}
const keyset = await cliKeyset(process.env, 'CONNECT_KEYSET');
const { url } = createConnectLink(keyset.forPurpose('connect'), values['authorize-url'], {
  appUserId,
  expiresAtMs: Date.now() + minutes * 60_000,
});
console.log(url);

// npm run unsubscribe-link -- <sub> [--revoke-url URL] [--days N]
// Prints a signed unsubscribe link for one user (what the app puts in its emails). The keyset
// comes from TOKEN_KEYSET, TOKEN_KEYSET_FILE or TOKEN_KEYSET_VERSION like the functions read it;
// without any, the local stack's .local/token-keyset.json.
import { parseArgs } from 'node:util';
import { isValidSub } from '../../shared/store/connection/document.ts';
import { createUnsubscribeLink } from '../../shared/web/unsubscribe-link.ts';
import { cliKeyset } from './cli-keyset.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    'revoke-url': { type: 'string', default: process.env.REVOKE_URL ?? 'http://localhost:8084/' },
    days: { type: 'string', default: '30' },
  },
});
const sub = positionals[0];
const days = Number(values.days);
if (sub === undefined || !isValidSub(sub) || !(days > 0 && days <= 365)) {
  console.error('usage: npm run unsubscribe-link -- <sub> [--revoke-url URL] [--days 1..365]');
  process.exit(2);
}
const keyset = await cliKeyset(process.env, 'LINK_KEYSET');
console.log(
  createUnsubscribeLink(
    keyset.forPurpose('link'),
    values['revoke-url'],
    sub,
    Date.now() + days * 86400e3,
  ),
);

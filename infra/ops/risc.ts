// npm run risc -- register --url <receiver> | status | verify [--state S]
// Manages the project's Cross-Account Protection stream (docs/operations.md#cross-account-protection):
// register points Google's security events at the `risc` function (every event type it acts on),
// status shows the stream, verify asks Google to send a verification event with a state the
// receiver logs. Credentials: a service account key with roles/riscconfigs.admin in
// RISC_SERVICE_ACCOUNT_KEY_FILE. Against the local stack (`npm start`), the Google stand-in plays
// the RISC API and mints the token itself.
import { parseArgs } from 'node:util';
import { cliEnv } from './cli-env.ts';
import { operatorBearer, RISC_API_ROOT, riscApi } from './risc-stream.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { url: { type: 'string' }, state: { type: 'string', default: `check-${Date.now()}` } },
});
const [command] = positionals;
if (
  !['register', 'status', 'verify'].includes(command ?? '') ||
  (command === 'register' && !values.url)
) {
  console.error('usage: npm run risc -- register --url <receiver> | status | verify [--state S]');
  process.exit(2);
}
const env = cliEnv();
const bearer = await operatorBearer(env);
if (bearer === undefined) {
  console.error(
    'risc: set RISC_SERVICE_ACCOUNT_KEY_FILE (a key of a service account with roles/riscconfigs.admin)',
  );
  process.exit(2);
}
const api = riscApi(env.RISC_API_ROOT ?? RISC_API_ROOT, bearer);
if (command === 'register') console.log(JSON.stringify(await api.register(values.url!), null, 2));
else if (command === 'status') console.log(JSON.stringify(await api.status(), null, 2));
else {
  await api.verify(values.state);
  console.log(
    `verification event requested with state "${values.state}": the risc function logs it`,
  );
}

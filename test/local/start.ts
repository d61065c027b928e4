// npm start [-- --port 8080]: the whole product on this machine. Prints one URL to open; Ctrl-C
// stops every process it started. Ports: start page = --port, stand-in = port+10, functions =
// port+1, +2, … in alphabetical order (authorize, callback, dispatcher, revoke, worker).
import { parseArgs } from 'node:util';
import { listFunctions } from '../../infra/build.ts';
import { startLocalStack } from './stack.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8080' },
    'app-name': { type: 'string', default: 'Consent Vault (local)' },
    quiet: { type: 'boolean', default: false },
  },
});
const base = Number(values.port);
if (!Number.isInteger(base) || base < 1024 || base > 65000) {
  console.error('--port must be a number from 1024 to 65000');
  process.exit(2);
}
const ports: Record<string, number> = { start: base, standIn: base + 10 };
(await listFunctions()).forEach((name, index) => (ports[name] = base + 1 + index));

console.log('starting the Firestore and Pub/Sub emulators, the Google stand-in and the functions…');
const stack = await startLocalStack({
  ports,
  appName: values['app-name'],
  onLog: (fn, line) => {
    if (values.quiet) return;
    try {
      const entry = JSON.parse(line) as { severity?: string; message?: string };
      console.log(`[${fn}] ${entry.severity ?? ''} ${entry.message ?? line}`);
    } catch {
      console.log(`[${fn}] ${line}`);
    }
  },
});
for (const [name, url] of Object.entries(stack.urls))
  if (name !== 'start') console.log(`  ${name.padEnd(10)} ${url}`);
console.log(
  `\nOpen ${stack.urls.start} and click "Connect your Google account". Ctrl-C stops everything.\n`,
);

let stopping = false;
const shutdown = () => {
  if (stopping) return;
  stopping = true;
  console.log('\nstopping…');
  void stack.stop().then(() => process.exit(0));
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);

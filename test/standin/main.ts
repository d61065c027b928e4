// CLI: node test/standin/main.ts --port 9099 --client-id X --client-secret Y --redirect-uri U
// Prints the URL (first line) and the endpoints, then runs until SIGINT/SIGTERM.
import { parseArgs } from 'node:util';
import { startGoogleStandIn } from './index.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '9099' },
    host: { type: 'string', default: '127.0.0.1' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    'redirect-uri': { type: 'string', multiple: true, default: [] },
    'testing-mode': { type: 'boolean', default: false },
    'latency-ms': { type: 'string', default: '0' },
    'code-ttl-seconds': { type: 'string', default: '600' },
  },
  strict: true,
});

function fail(message: string): never {
  console.error(`google stand-in: ${message}`);
  process.exit(2);
}

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail('--port must be 0..65535');
const latencyMs = Number(values['latency-ms']);
if (!(latencyMs >= 0)) fail('--latency-ms must be >= 0');
const codeTtlSeconds = Number(values['code-ttl-seconds']);
if (!(codeTtlSeconds > 0)) fail('--code-ttl-seconds must be > 0');
const clientId = values['client-id'];
const clientSecret = values['client-secret'];
if (!clientId || !clientSecret) fail('--client-id and --client-secret are required');
if (values['redirect-uri'].length === 0) fail('at least one --redirect-uri is required');

const standIn = await startGoogleStandIn({
  port,
  host: values.host,
  latencyMs,
  codeTtlSeconds,
  clients: [
    {
      clientId,
      clientSecret,
      redirectUris: values['redirect-uri'],
      testingMode: values['testing-mode'],
    },
  ],
});
console.log(standIn.url);
console.log(JSON.stringify(standIn.endpoints, null, 2));

let closing = false;
const shutdown = (): void => {
  if (closing) return;
  closing = true;
  standIn.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);

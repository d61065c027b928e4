// A worker function in its own process, as deployed: imports functions/worker.ts (which registers
// `worker` with the functions-framework) and serves it on PORT. The redelivery test kills it.
import { getTestServer } from '@google-cloud/functions-framework/testing';

await import('../../functions/worker.ts');
const server = getTestServer('worker');
server.listen(Number(process.env.PORT), '127.0.0.1', () => {
  process.stdout.write('worker ready\n');
});

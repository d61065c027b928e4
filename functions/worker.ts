// Deployed as `worker` (CloudEvent, Pub/Sub trigger on WORK_TOPIC; dead-letter policy on its
// subscription). A thrown error nacks the message: Pub/Sub redelivers. Thin adapter: see
// shared/runs/worker.ts.
import { cloudEvent, type CloudEvent } from '@google-cloud/functions-framework';
import { runnerServices } from '../shared/platform/runner-services.ts';
import { lazyRunDeps } from '../shared/runs/deps.ts';
import { workerHandler } from '../shared/runs/handlers.ts';
import { runtimeFromEnvironment } from '../shared/platform/runtime.ts';

const runtime = runtimeFromEnvironment(process.env, 'worker', runnerServices);
const handle = workerHandler(lazyRunDeps(runtime));
cloudEvent('worker', async (event: CloudEvent<unknown>) => {
  await handle(event);
});

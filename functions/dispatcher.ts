// Deployed as `dispatcher` (CloudEvent, Pub/Sub trigger on TICK_TOPIC, published by Cloud
// Scheduler). Thin adapter: see shared/runs/dispatch.ts.
import { cloudEvent, type CloudEvent } from '@google-cloud/functions-framework';
import { runnerServices } from '../shared/platform/runner-services.ts';
import { lazyRunDeps } from '../shared/runs/deps.ts';
import { dispatcherHandler } from '../shared/runs/handlers.ts';
import { runtimeFromEnvironment } from '../shared/platform/runtime.ts';

const runtime = runtimeFromEnvironment(process.env, 'dispatcher', runnerServices);
const handle = dispatcherHandler(lazyRunDeps(runtime));
cloudEvent('dispatcher', async (event: CloudEvent<unknown>) => {
  await handle(event);
});

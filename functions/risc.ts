// Deployed as `risc` (HTTP, public: Google's Cross-Account Protection pushes security event
// tokens here; each is verified in code). Thin adapter: see shared/risc/receiver.ts.
import { http } from '@google-cloud/functions-framework';
import { expressHandler } from '../shared/platform/express-adapter.ts';
import { runnerServices } from '../shared/platform/runner-services.ts';
import { runtimeFromEnvironment } from '../shared/platform/runtime.ts';
import { riscHandler } from '../shared/risc/receiver.ts';

http(
  'risc',
  expressHandler(riscHandler(runtimeFromEnvironment(process.env, 'risc', runnerServices))),
);

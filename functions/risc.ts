// Deployed as `risc` (HTTP, public: Google's Cross-Account Protection pushes security event
// tokens here; each is verified in code). Thin adapter: see shared/risc/receiver.ts.
import { runnerServices } from '../shared/platform/runner-services.ts';
import { runtimeFromEnvironment } from '../shared/platform/runtime.ts';
import { serveHttpFunction } from '../shared/platform/serve-http.ts';
import { riscHandler } from '../shared/risc/receiver.ts';

const runtime = runtimeFromEnvironment(process.env, 'risc', runnerServices);
serveHttpFunction('risc', riscHandler(runtime), runtime.log);

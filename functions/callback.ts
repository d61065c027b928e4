// Deployed as `callback` (HTTP, public: Google's consent redirect lands here).
// Thin adapter: see shared/flows/callback.ts.
import { callbackHandler } from '../shared/flows/callback.ts';
import { httpServices } from '../shared/platform/http-services.ts';
import { runtimeFromEnvironment } from '../shared/platform/runtime.ts';
import { serveHttpFunction } from '../shared/platform/serve-http.ts';

const runtime = runtimeFromEnvironment(process.env, 'callback', httpServices);
serveHttpFunction('callback', callbackHandler(runtime), runtime.log);

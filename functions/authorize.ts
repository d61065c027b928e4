// Deployed as `authorize` (HTTP, public). Thin adapter: see shared/flows/authorize.ts.
import { authorizeHandler } from '../shared/flows/authorize.ts';
import { runtimeFromEnvironment } from '../shared/platform/runtime.ts';
import { serveHttpFunction } from '../shared/platform/serve-http.ts';

const runtime = runtimeFromEnvironment(process.env, 'authorize');
serveHttpFunction('authorize', authorizeHandler(runtime), runtime.log);

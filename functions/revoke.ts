// Deployed as `revoke` (HTTP, public: users open unsubscribe links; server-to-server callers are
// authenticated in code by a Google-signed ID token). Thin adapter: see shared/flows/revoke.ts.
import { revokeHandler } from '../shared/flows/revoke.ts';
import { httpServices } from '../shared/platform/http-services.ts';
import { runtimeFromEnvironment } from '../shared/platform/runtime.ts';
import { serveHttpFunction } from '../shared/platform/serve-http.ts';

const runtime = runtimeFromEnvironment(process.env, 'revoke', httpServices);
serveHttpFunction('revoke', revokeHandler(runtime), runtime.log);

// Deployed as `revoke` (HTTP, public: users open unsubscribe links; server-to-server callers are
// authenticated in code by a Google-signed ID token). Thin adapter: see shared/flows/revoke.ts.
import { http } from '@google-cloud/functions-framework';
import { expressHandler } from '../shared/platform/express-adapter.ts';
import { revokeHandler } from '../shared/flows/revoke.ts';
import { httpServices } from '../shared/platform/http-services.ts';
import { runtimeFromEnvironment } from '../shared/platform/runtime.ts';

http(
  'revoke',
  expressHandler(revokeHandler(runtimeFromEnvironment(process.env, 'revoke', httpServices))),
);

// Deployed as `callback` (HTTP, public: Google's consent redirect lands here).
// Thin adapter: see shared/flows/callback.ts.
import { http } from '@google-cloud/functions-framework';
import { expressHandler } from '../shared/platform/express-adapter.ts';
import { callbackHandler } from '../shared/flows/callback.ts';
import { httpServices } from '../shared/platform/http-services.ts';
import { runtimeFromEnvironment } from '../shared/platform/runtime.ts';

http(
  'callback',
  expressHandler(callbackHandler(runtimeFromEnvironment(process.env, 'callback', httpServices))),
);

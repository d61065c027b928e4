// Deployed as `authorize` (HTTP, public). Thin adapter: see shared/flows/authorize.ts.
import { http } from '@google-cloud/functions-framework';
import { expressHandler } from '../shared/platform/express-adapter.ts';
import { authorizeHandler } from '../shared/flows/authorize.ts';
import { runtimeFromEnvironment } from '../shared/platform/runtime.ts';

http(
  'authorize',
  expressHandler(authorizeHandler(runtimeFromEnvironment(process.env, 'authorize'))),
);

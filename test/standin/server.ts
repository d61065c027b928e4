// The HTTP server: routes a request to its endpoint (built-in or plug-in API), applies latency
// and faults to Google endpoints, writes the handler's Reply, and logs the request. This is the
// one place where replies reach the socket and where unexpected exceptions become a bare 500.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { apiFaultReply, handleApi, methodsOf, type StandInApi } from './apis.ts';
import { AUTH_PATH, DECISION_PATH, handleAuthorize, handleDecision } from './consent.ts';
import { CONTROL_PREFIX, handleControl } from './control-http.ts';
import type { StandInControl } from './control.ts';
import type { StandInCore } from './core.ts';
import {
  CERTS_JWKS_PATH,
  CERTS_PEM_PATH,
  DISCOVERY_PATH,
  handleCertsJwks,
  handleCertsPem,
  handleDiscovery,
} from './certs.ts';
import { DRIVE_PREFIX, UPLOAD_PREFIX, handleDrive } from './drive.ts';
import { faultReply, type FaultInjector, type FaultSpec } from './faults.ts';
import { jsonReply, type Reply, type RequestContext } from './http.ts';
import type { RequestLog } from './request-log.ts';
import { REVOKE_PATH, handleRevoke } from './revoke.ts';
import {
  RISC_API_PREFIX,
  RISC_CONFIGURATION_PATH,
  RISC_JWKS_PATH,
  handleRiscApi,
  handleRiscConfiguration,
  handleRiscJwks,
} from './risc-api.ts';
import { SHEETS_PREFIX, handleSheets } from './sheets.ts';
import { TOKEN_PATH, handleToken } from './token.ts';
import { TOKENINFO_PATH, USERINFO_PATH, handleTokenInfo, handleUserInfo } from './tokeninfo.ts';
import type { EndpointName, GoogleEndpointName, StandInEndpoints } from './types.ts';

const MAX_BODY_BYTES = 32 * 1024 * 1024;

export interface ServerDeps {
  core: StandInCore;
  faults: FaultInjector;
  log: RequestLog;
  latency: { ms: number };
  /** Known once the server listens. */
  endpoints: () => StandInEndpoints;
  control: () => StandInControl;
  /** Plug-in APIs, already validated (validateApis with BUILT_IN_PATHS). */
  apis: readonly StandInApi[];
}

/** Every path and path prefix the built-in routes own; plug-in prefixes may not overlap them. */
export const BUILT_IN_PATHS: readonly string[] = [
  AUTH_PATH,
  DECISION_PATH,
  TOKEN_PATH,
  REVOKE_PATH,
  TOKENINFO_PATH,
  USERINFO_PATH,
  CERTS_PEM_PATH,
  CERTS_JWKS_PATH,
  DISCOVERY_PATH,
  DRIVE_PREFIX,
  UPLOAD_PREFIX,
  SHEETS_PREFIX,
  RISC_CONFIGURATION_PATH,
  RISC_JWKS_PATH,
  RISC_API_PREFIX,
  CONTROL_PREFIX,
];

type Handler = (ctx: RequestContext) => Reply | Promise<Reply>;

interface Route {
  endpoint: EndpointName;
  methods: readonly string[];
  handle: Handler;
  /** The answer to a status, rateLimit or refuse fault; default faultReply for the endpoint. */
  fault?: (spec: FaultSpec) => Reply;
}

function routeFor(path: string, deps: ServerDeps): Route | undefined {
  const { core } = deps;
  switch (path) {
    case AUTH_PATH:
      return { endpoint: 'auth', methods: ['GET'], handle: (ctx) => handleAuthorize(ctx, core) };
    case DECISION_PATH:
      return { endpoint: 'auth', methods: ['POST'], handle: (ctx) => handleDecision(ctx, core) };
    case TOKEN_PATH:
      return { endpoint: 'token', methods: ['POST'], handle: (ctx) => handleToken(ctx, core) };
    case REVOKE_PATH:
      return {
        endpoint: 'revoke',
        methods: ['POST', 'GET'],
        handle: (ctx) => handleRevoke(ctx, core),
      };
    case TOKENINFO_PATH:
      return {
        endpoint: 'tokeninfo',
        methods: ['GET', 'POST'],
        handle: (ctx) => handleTokenInfo(ctx, core),
      };
    case USERINFO_PATH:
      return {
        endpoint: 'userinfo',
        methods: ['GET', 'POST'],
        handle: (ctx) => handleUserInfo(ctx, core),
      };
    case CERTS_PEM_PATH:
      return { endpoint: 'certs', methods: ['GET'], handle: () => handleCertsPem(core) };
    case CERTS_JWKS_PATH:
      return { endpoint: 'certs', methods: ['GET'], handle: () => handleCertsJwks(core) };
    case DISCOVERY_PATH:
      return {
        endpoint: 'discovery',
        methods: ['GET'],
        handle: () => handleDiscovery(deps.endpoints()),
      };
    // RISC discovery and keys count as discovery and certs (same hosts and families at Google).
    case RISC_CONFIGURATION_PATH:
      return {
        endpoint: 'discovery',
        methods: ['GET'],
        handle: () => handleRiscConfiguration(deps.endpoints()),
      };
    case RISC_JWKS_PATH:
      return { endpoint: 'certs', methods: ['GET'], handle: () => handleRiscJwks(core) };
  }
  if (path.startsWith(DRIVE_PREFIX) || path.startsWith(UPLOAD_PREFIX)) {
    return {
      endpoint: 'drive',
      methods: ['GET', 'POST', 'PATCH', 'DELETE'],
      handle: (ctx) => handleDrive(ctx, core),
    };
  }
  if (path.startsWith(SHEETS_PREFIX)) {
    // Every method, so that the token is checked before "not implemented" is answered.
    return {
      endpoint: 'sheets',
      methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
      handle: (ctx) => handleSheets(ctx, core),
    };
  }
  if (path.startsWith(RISC_API_PREFIX)) {
    return {
      endpoint: 'risc',
      methods: ['GET', 'POST'],
      handle: (ctx) => handleRiscApi(ctx, core),
    };
  }
  const api = deps.apis.find((a) => path.startsWith(a.prefix));
  if (api) {
    return {
      endpoint: api.name,
      methods: methodsOf(api),
      handle: (ctx) => handleApi(ctx, core, api),
      fault: (spec) => apiFaultReply(api, spec),
    };
  }
  if (path.startsWith(CONTROL_PREFIX)) {
    return {
      endpoint: 'control',
      methods: ['GET', 'POST', 'DELETE'],
      handle: (ctx) => handleControl(ctx, deps.control()),
    };
  }
  return undefined;
}

export function createStandInServer(deps: ServerDeps): Server {
  const server = createServer((req, res) => {
    handleRequest(req, res, deps).catch((err: unknown) => {
      // Reached only when writing the reply itself failed; nothing more to tell the client.
      console.error('google stand-in: failed to answer', err instanceof Error ? err.message : err);
      res.destroy();
    });
  });
  server.keepAliveTimeout = 10_000;
  return server;
}

async function handleRequest(
  req: IncomingMessage,
  res: ServerResponse,
  deps: ServerDeps,
): Promise<void> {
  const started = performance.now();
  const at = new Date();
  const clockAt = new Date(deps.core.clock.now());
  const url = new URL(req.url ?? '/', 'http://stand-in.invalid');
  const method = req.method ?? 'GET';
  const route = routeFor(url.pathname, deps);
  const endpoint = route?.endpoint ?? 'unknown';
  const ctx: RequestContext = {
    method,
    url,
    headers: req.headers,
    body: Buffer.alloc(0),
    meta: {},
  };

  let fault: ReturnType<FaultInjector['take']>;
  let status = 0;
  try {
    ctx.body = await readBody(req);
    if (endpoint !== 'control' && deps.latency.ms > 0) await sleep(deps.latency.ms);
    if (endpoint !== 'control' && endpoint !== 'unknown') fault = deps.faults.take(endpoint);
    if (fault?.kind === 'drop') {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'slow') await sleep(fault.delayMs);
    let reply: Reply;
    if (!route) reply = jsonReply(404, { error: 'not_found' });
    else if (!route.methods.includes(method))
      reply = jsonReply(405, { error: 'method_not_allowed' });
    else if (
      fault &&
      endpoint !== 'control' &&
      endpoint !== 'unknown' &&
      (fault.kind === 'status' || fault.kind === 'rateLimit' || fault.kind === 'refuse')
    )
      // Routes without their own fault answer are the built-in ones, named by Google endpoint.
      reply = route.fault ? route.fault(fault) : faultReply(endpoint as GoogleEndpointName, fault);
    else reply = await safely(route.handle, ctx);
    status = reply.status;
    res.writeHead(reply.status, reply.headers);
    res.end(reply.body);
  } finally {
    if (endpoint !== 'control') {
      deps.log.record({
        at: at.toISOString(),
        clockAt: clockAt.toISOString(),
        method,
        endpoint,
        path: url.pathname,
        status,
        ...(ctx.meta.grantType !== undefined ? { grantType: ctx.meta.grantType } : {}),
        ...(ctx.meta.dpopBound ? { dpop: true } : {}),
        ...(fault ? { fault: fault.kind } : {}),
        durationMs: Math.round(performance.now() - started),
      });
    }
  }
}

async function safely(handle: Handler, ctx: RequestContext): Promise<Reply> {
  try {
    return await handle(ctx);
  } catch (err) {
    // Never echo internals (they may hold tokens); the message is enough to debug the stand-in.
    console.error(
      'google stand-in: handler failed:',
      err instanceof Error ? err.message : 'unknown error',
    );
    return jsonReply(500, { error: 'internal_failure' });
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  const empty =
    req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined;
  if (empty) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}

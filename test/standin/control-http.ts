// /__control/* : the control API over HTTP (JSON in, JSON out), for the CLI stand-in and the demo.
import type {
  RiscEventInput,
  SeedDriveFile,
  SeedSpreadsheetInput,
  StandInControl,
} from './control.ts';
import type { ScriptedDecision } from './core.ts';
import type { FaultSpec } from './faults.ts';
import { jsonReply, type Reply, type RequestContext } from './http.ts';
import type { ApiEndpointName } from './types.ts';

export const CONTROL_PREFIX = '/__control/';

class BadControlRequest extends Error {}

type Body = Record<string, unknown>;

function readJson(ctx: RequestContext): Body {
  if (ctx.body.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(ctx.body.toString('utf8'));
  } catch {
    throw new BadControlRequest('body is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BadControlRequest('body must be a JSON object');
  }
  return value as Body;
}

function str(body: Body, key: string): string {
  const v = body[key];
  if (typeof v !== 'string' || v === '')
    throw new BadControlRequest(`${key} must be a non-empty string`);
  return v;
}

function optStr(body: Body, key: string): string | undefined {
  return body[key] === undefined ? undefined : str(body, key);
}

function num(body: Body, key: string): number {
  const v = body[key];
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new BadControlRequest(`${key} must be a number`);
  return v;
}

function endpointName(value: unknown, control: StandInControl): ApiEndpointName {
  const names = control.endpointNames();
  const found = names.find((n) => n === value);
  if (!found) throw new BadControlRequest(`endpoint must be one of ${names.join(', ')}`);
  return found;
}

const isRecord = (v: unknown): v is Body =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function seedSpreadsheetInput(body: Body): SeedSpreadsheetInput {
  const sheets = body['sheets'];
  if (!isRecord(sheets)) throw new BadControlRequest('sheets must be an object');
  const id = optStr(body, 'id');
  // Cell values are checked by the control call (RangeError → 400).
  return {
    email: str(body, 'email'),
    title: str(body, 'title'),
    sheets: sheets as SeedSpreadsheetInput['sheets'],
    ...(id !== undefined ? { id } : {}),
  };
}

function seedFiles(body: Body): SeedDriveFile[] {
  const files = body['files'];
  if (!Array.isArray(files) || !files.every(isRecord))
    throw new BadControlRequest('files must be an array of objects');
  return files.map((f) => {
    const mimeType = optStr(f, 'mimeType');
    const modifiedTime = optStr(f, 'modifiedTime');
    const content = f['content'];
    if (content !== undefined && typeof content !== 'string')
      throw new BadControlRequest('content must be a string');
    return {
      name: str(f, 'name'),
      ...(mimeType !== undefined ? { mimeType } : {}),
      ...(modifiedTime !== undefined ? { modifiedTime } : {}),
      ...(content !== undefined ? { content } : {}),
    };
  });
}

function faultSpec(body: Body): FaultSpec {
  const count = body['count'] === undefined ? 1 : num(body, 'count');
  switch (body['kind']) {
    case 'status':
      return { kind: 'status', status: num(body, 'status'), count };
    case 'rateLimit':
      return body['retryAfterSeconds'] === undefined
        ? { kind: 'rateLimit', count }
        : { kind: 'rateLimit', retryAfterSeconds: num(body, 'retryAfterSeconds'), count };
    case 'slow':
      return { kind: 'slow', delayMs: num(body, 'delayMs'), count };
    case 'drop':
      return { kind: 'drop', count };
    case 'refuse':
      return {
        kind: 'refuse',
        status: num(body, 'status'),
        error: optStr(body, 'error') ?? '',
        count,
      };
    default:
      throw new BadControlRequest('kind must be status, rateLimit, slow, drop or refuse');
  }
}

function scriptedDecision(body: Body): ScriptedDecision | null {
  if (body['decision'] === null) return null;
  const decision = body['decision'];
  if (decision !== 'approve' && decision !== 'deny')
    throw new BadControlRequest('decision must be approve, deny or null');
  const user = optStr(body, 'user');
  const grant = optStr(body, 'grant');
  return { decision, ...(user ? { user } : {}), ...(grant !== undefined ? { grant } : {}) };
}

/** The fields of a RISC event; values are checked by the control call (RangeError → 400). */
function riscEvent(body: Body): RiscEventInput {
  const optional = (key: string): Record<string, string> => {
    const v = optStr(body, key);
    return v === undefined ? {} : { [key]: v };
  };
  return {
    email: str(body, 'email'),
    type: str(body, 'type') as RiscEventInput['type'],
    ...optional('clientId'),
    ...optional('reason'),
    ...optional('refreshToken'),
    ...optional('tokenIdentifierAlg'),
  };
}

function signOptions(body: Body): Parameters<StandInControl['signSet']>[1] {
  const key = optStr(body, 'key');
  if (key !== undefined && key !== 'stand-in' && key !== 'foreign' && key !== 'none')
    throw new BadControlRequest('key must be stand-in, foreign or none');
  const kid = optStr(body, 'kid');
  return { ...(key !== undefined ? { key } : {}), ...(kid !== undefined ? { kid } : {}) };
}

function route(ctx: RequestContext, control: StandInControl): unknown {
  const action = `${ctx.method} ${ctx.url.pathname.slice(CONTROL_PREFIX.length)}`;
  const query = ctx.url.searchParams;
  switch (action) {
    case 'GET clock':
      return {
        now: control.now(),
        iso: new Date(control.now()).toISOString(),
        offsetMs: control.clockOffsetMs(),
      };
    case 'POST clock/advance': {
      const body = readJson(ctx);
      control.advanceClock(
        body['seconds'] !== undefined ? num(body, 'seconds') * 1000 : num(body, 'ms'),
      );
      return { now: control.now(), offsetMs: control.clockOffsetMs() };
    }
    case 'POST clock/offset':
      control.setClockOffset(num(readJson(ctx), 'offsetMs'));
      return { now: control.now(), offsetMs: control.clockOffsetMs() };
    case 'POST decision':
      control.setScriptedDecision(scriptedDecision(readJson(ctx)));
      return {};
    case 'POST clients': {
      const body = readJson(ctx);
      const uris = body['redirectUris'];
      if (!Array.isArray(uris) || !uris.every((u) => typeof u === 'string')) {
        throw new BadControlRequest('redirectUris must be an array of strings');
      }
      control.registerClient({
        clientId: str(body, 'clientId'),
        clientSecret: str(body, 'clientSecret'),
        redirectUris: uris,
        testingMode: body['testingMode'] === true,
      });
      return {};
    }
    case 'POST clients/delete':
      return { deleted: control.deleteClient(str(readJson(ctx), 'clientId')) };
    case 'POST users/revoke': {
      const body = readJson(ctx);
      return {
        revokedGrants: control.revokeUserGrant(str(body, 'email'), optStr(body, 'clientId')),
      };
    }
    case 'POST users/password':
      return { killedRefreshTokens: control.changePassword(str(readJson(ctx), 'email')) };
    case 'POST users/reauth':
      control.requireReauth(str(readJson(ctx), 'email'));
      return {};
    case 'GET users/grants':
      return { grants: control.grants(query.get('email') ?? '') };
    case 'GET dpop/nonce':
      return { nonce: control.dpopNonce() };
    case 'POST dpop/nonce-required': {
      const required = readJson(ctx)['required'];
      if (typeof required !== 'boolean') throw new BadControlRequest('required must be a boolean');
      control.setDpopNonceRequired(required);
      return { required, nonce: control.dpopNonce() };
    }
    case 'POST dpop/rotate-nonce':
      return { nonce: control.rotateDpopNonce() };
    case 'GET faults':
      return { faults: control.pendingFaults() };
    case 'POST faults': {
      const body = readJson(ctx);
      control.injectFault(endpointName(body['endpoint'], control), faultSpec(body));
      return {};
    }
    case 'DELETE faults': {
      const endpoint = query.get('endpoint');
      control.clearFaults(endpoint === null ? undefined : endpointName(endpoint, control));
      return {};
    }
    case 'POST latency':
      control.setLatency(num(readJson(ctx), 'latencyMs'));
      return { latencyMs: control.latencyMs() };
    case 'GET log':
      return { entries: control.requestLog() };
    case 'DELETE log':
      control.clearRequestLog();
      return {};
    case 'GET stats':
      return { stats: control.stats() };
    case 'GET secrets':
      return { secrets: control.issuedSecrets() };
    case 'POST service-account-id-token': {
      const body = readJson(ctx);
      return {
        idToken: control.mintServiceAccountIdToken({
          email: str(body, 'email'),
          audience: str(body, 'audience'),
        }),
      };
    }
    case 'GET drive/files':
      return { files: control.driveFiles(query.get('email') ?? '') };
    case 'POST drive/seed': {
      const body = readJson(ctx);
      return control.seedDriveFiles({ email: str(body, 'email'), files: seedFiles(body) });
    }
    case 'POST sheets':
      return control.seedSpreadsheet(seedSpreadsheetInput(readJson(ctx)));
    case 'POST risc/disable': {
      const body = readJson(ctx);
      const reason = optStr(body, 'reason') as 'hijacking' | 'bulk-account' | undefined;
      return control
        .disableAccount({ email: str(body, 'email'), ...(reason ? { reason } : {}) })
        .then((deliveries) => ({ deliveries }));
    }
    case 'POST risc/enable':
      return control
        .enableAccount({ email: str(readJson(ctx), 'email') })
        .then((deliveries) => ({ deliveries }));
    case 'POST risc/emit':
      return control.emitRiscEvent(riscEvent(readJson(ctx))).then((deliveries) => ({ deliveries }));
    case 'GET risc/deliveries':
      return control.riscSettled().then((deliveries) => ({ deliveries }));
    case 'GET risc/stream':
      return { stream: control.riscStream() ?? null };
    case 'POST risc/sign': {
      const body = readJson(ctx);
      const payload = body['payload'];
      if (!isRecord(payload)) throw new BadControlRequest('payload must be an object');
      return { set: control.signSet(payload, signOptions(body)) };
    }
    case 'POST risc/deliver':
      return control.deliverSet(str(readJson(ctx), 'set')).then((delivery) => ({ delivery }));
    case 'POST risc/rotate-key':
      return control.rotateRiscKey();
    case 'POST reset':
      control.reset();
      return {};
    default:
      return undefined;
  }
}

export async function handleControl(ctx: RequestContext, control: StandInControl): Promise<Reply> {
  try {
    // RISC calls answer once their deliveries are done.
    const result = await route(ctx, control);
    if (result === undefined) return jsonReply(404, { error: 'unknown control call' });
    return jsonReply(200, result, { 'cache-control': 'no-store' });
  } catch (err) {
    if (err instanceof BadControlRequest || err instanceof RangeError) {
      return jsonReply(400, { error: err.message });
    }
    throw err;
  }
}

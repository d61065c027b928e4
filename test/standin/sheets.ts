// Sheets v4 spreadsheets.values.get under /v4/spreadsheets/, enough for @googleapis/sheets with
// `rootUrl`, with the google.rpc error shapes of Google's API front end.
// https://developers.google.com/sheets/api/reference/rest/v4/spreadsheets.values/get
import { authenticate, hasAnyScope, type ApiCaller } from './apis.ts';
import type { StandInCore } from './core.ts';
import { parseFields, project } from './drive-query.ts';
import { SPREADSHEET_MIME_TYPE } from './drive-store.ts';
import { jsonReply, type Reply, type RequestContext } from './http.ts';
import {
  rpcBadParameter,
  rpcError,
  rpcInsufficientScope,
  rpcUnauthenticated,
  type RpcMethod,
} from './rpc-errors.ts';
import {
  DRIVE,
  DRIVE_FILE,
  DRIVE_READONLY,
  SPREADSHEETS,
  SPREADSHEETS_READONLY,
} from './scopes.ts';
import { formatRange, parseRange, resolveRange, type Resolution } from './sheets-range.ts';
import type { Sheet } from './sheets-store.ts';

export const SHEETS_PREFIX = '/v4/spreadsheets/';

const GET_VALUES: RpcMethod = {
  service: 'sheets.googleapis.com',
  method: 'google.apps.sheets.v4.SpreadsheetsService.GetValues',
};

/** The scopes values.get accepts, as its reference page lists them. */
const READ_SCOPES = [DRIVE, DRIVE_FILE, DRIVE_READONLY, SPREADSHEETS, SPREADSHEETS_READONLY];
/** Every spreadsheet the user can open; drive.file alone reaches only the client's own files. */
const ALL_SPREADSHEETS = [DRIVE, DRIVE_READONLY, SPREADSHEETS, SPREADSHEETS_READONLY];

/** Query parameters of values.get, then the system parameters every Google API takes. */
const ENUMS: Readonly<Record<string, { field: string; type: string; values: readonly string[] }>> =
  {
    majorDimension: {
      field: 'major_dimension',
      type: 'google.apps.sheets.v4.Dimension',
      values: ['DIMENSION_UNSPECIFIED', 'ROWS', 'COLUMNS'],
    },
    valueRenderOption: {
      field: 'value_render_option',
      type: 'google.apps.sheets.v4.ValueRenderOption',
      values: ['FORMATTED_VALUE', 'UNFORMATTED_VALUE', 'FORMULA'],
    },
    dateTimeRenderOption: {
      field: 'date_time_render_option',
      type: 'google.apps.sheets.v4.DateTimeRenderOption',
      values: ['SERIAL_NUMBER', 'FORMATTED_STRING'],
    },
  };
const SYSTEM_PARAMETERS = new Set([
  '$.xgafv',
  'access_token',
  'alt',
  'callback',
  'fields',
  'key',
  'oauth_token',
  'prettyPrint',
  'quotaUser',
  'upload_protocol',
  'uploadType',
]);

export function handleSheets(ctx: RequestContext, core: StandInCore): Reply {
  const auth = authenticate(ctx, core);
  if (!auth.caller) return rpcUnauthenticated(auth.tokenSent);
  const [spreadsheetId, collection, ...rangeParts] = ctx.url.pathname
    .slice(SHEETS_PREFIX.length)
    .split('/');
  if (
    ctx.method !== 'GET' ||
    collection !== 'values' ||
    !spreadsheetId ||
    rangeParts.length === 0
  ) {
    return rpcError(
      501,
      'UNIMPLEMENTED',
      'The Google stand-in serves only spreadsheets.values.get of the Sheets API.',
    );
  }
  // The front end checks scopes before the spreadsheet is looked up.
  if (!hasAnyScope(auth.caller, READ_SCOPES)) return rpcInsufficientScope(GET_VALUES, READ_SCOPES);
  const badParameter = checkParameters(ctx.url.searchParams);
  if (badParameter) return badParameter;
  const opened = openSpreadsheet(core, auth.caller, safeDecode(spreadsheetId));
  if (!opened.ok) return opened.reply;
  const { sheets } = opened;

  const rangeText = safeDecode(rangeParts.join('/'));
  const parsed = rangeText === undefined ? null : parseRange(rangeText);
  const resolved: Resolution<Sheet> = parsed
    ? resolveRange(parsed, sheets)
    : { ok: false, reason: 'unparsable' };
  if (!resolved.ok) {
    const message =
      resolved.reason === 'exceedsGrid'
        ? resolved.message
        : `Unable to parse range: ${rangeText ?? rangeParts.join('/')}`;
    return rpcError(400, 'INVALID_ARGUMENT', message);
  }

  const majorDimension =
    ctx.url.searchParams.get('majorDimension') === 'COLUMNS' ? 'COLUMNS' : 'ROWS';
  const body: Record<string, unknown> = { range: formatRange(resolved), majorDimension };
  const values = valuesOf(resolved.sheet, resolved, majorDimension);
  if (values.length > 0) body['values'] = values;
  const fields = ctx.url.searchParams.get('fields');
  if (fields) {
    const tree = parseFields(fields);
    if (!tree) return rpcError(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.');
    return jsonReply(200, project(body, tree));
  }
  return jsonReply(200, body);
}

/** The spreadsheet's sheets when the caller may read it, else Google's refusal. */
function openSpreadsheet(
  core: StandInCore,
  caller: ApiCaller,
  id: string | undefined,
): { ok: true; sheets: readonly Sheet[] } | { ok: false; reply: Reply } {
  const located = id === undefined ? undefined : core.drive.locate(id);
  if (!located) {
    return { ok: false, reply: rpcError(404, 'NOT_FOUND', 'Requested entity was not found.') };
  }
  const own = located.email === caller.email;
  const reachable =
    hasAnyScope(caller, ALL_SPREADSHEETS) || located.file.createdByClientId === caller.clientId;
  // Sharing is not modelled: another user's file is never readable.
  if (!own || !reachable) {
    const reply = rpcError(403, 'PERMISSION_DENIED', 'The caller does not have permission');
    return { ok: false, reply };
  }
  if (located.file.mimeType !== SPREADSHEET_MIME_TYPE) {
    const message = 'This operation is not supported for this document';
    return { ok: false, reply: rpcError(400, 'FAILED_PRECONDITION', message) };
  }
  return { ok: true, sheets: core.sheets.sheetsOf(located.file.id) };
}

function checkParameters(params: URLSearchParams): Reply | undefined {
  for (const [name, value] of params) {
    const enumeration = ENUMS[name];
    if (enumeration) {
      if (!enumeration.values.includes(value)) {
        const text = `Invalid value at '${enumeration.field}' (type.googleapis.com/${enumeration.type}), "${value}"`;
        return rpcBadParameter(enumeration.field, text);
      }
    } else if (!SYSTEM_PARAMETERS.has(name)) {
      return rpcBadParameter(
        undefined,
        `Invalid JSON payload received. Unknown name "${name}": Cannot bind query parameter. Field '${name}' could not be found in request message.`,
      );
    }
  }
  return undefined;
}

/**
 * The cells of the range as Google returns them: rows (or columns) in order, each without its
 * trailing empty cells, and without trailing empty rows; an empty row inside stays as [].
 */
function valuesOf(
  sheet: Sheet,
  range: { startRow: number; endRow: number; startColumn: number; endColumn: number },
  major: 'ROWS' | 'COLUMNS',
): string[][] {
  const cell = (row: number, column: number): string => sheet.rows[row]?.[column] ?? '';
  // Rows past the data are empty: no need to walk a 1000-row grid for ten values.
  const lastRow = Math.min(range.endRow, sheet.rows.length - 1);
  const outer: string[][] = [];
  const [outerFrom, outerTo, innerFrom, innerTo] =
    major === 'ROWS'
      ? [range.startRow, lastRow, range.startColumn, range.endColumn]
      : [range.startColumn, range.endColumn, range.startRow, lastRow];
  for (let i = outerFrom; i <= outerTo; i += 1) {
    const line: string[] = [];
    for (let j = innerFrom; j <= innerTo; j += 1) {
      line.push(major === 'ROWS' ? cell(i, j) : cell(j, i));
    }
    while (line.length > 0 && line[line.length - 1] === '') line.pop();
    outer.push(line);
  }
  while (outer.length > 0 && outer[outer.length - 1]?.length === 0) outer.pop();
  return outer;
}

function safeDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

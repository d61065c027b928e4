// The app's backend sets and reads a user's job settings (docs/jobs.md#per-user-settings),
// authenticated like the server-to-server revoke (a Google-signed ID token of an allow-listed
// service account; the caller is checked before this runs):
//   POST …/settings {"sub", "job", "settings": {…}}  validate against the job's schema, store
//   GET  …/settings?sub=…                             the stored settings and each job's status
// Settings are checked against the job's own zod schema; what is stored is the parsed value
// (defaults filled in). Each write replaces one job's settings only, in the same commit as the
// connection's guarded `settingsChanged` transition, so none survive a revoke.
import { AppError } from '../errors.ts';
import type { JobDefinition } from '../jobs/define.ts';
import type { Runtime } from '../platform/runtime.ts';
import { isValidSub } from '../store/connection/document.ts';
import {
  createConnectionRepository,
  type ConnectionRepository,
} from '../store/connection/repository.ts';
import type { SettingsRefusal } from '../store/connection/transitions.ts';
import { restConnectionBackend } from '../store/connection/rest-backend.ts';
import { fromFields } from '../store/firestore-values.ts';
import { jobSettingsPath, type JobSettingsValues } from '../store/job-settings.ts';
import { json, type HttpRequest, type HttpResponse } from '../web/http.ts';

export const SETTINGS_PATH_SUFFIX = '/settings';

export async function jobSettingsApi(
  runtime: Runtime,
  request: HttpRequest,
): Promise<HttpResponse> {
  const documents = await runtime.documents();
  const connections = createConnectionRepository(restConnectionBackend(documents));
  const readValues = async (sub: string): Promise<JobSettingsValues> => {
    const stored = await documents.get(jobSettingsPath(sub));
    return ((stored ? fromFields(stored.fields).values : undefined) ?? {}) as JobSettingsValues;
  };

  if (request.method === 'GET') {
    const sub = subOf(request.url.searchParams.get('sub'));
    const { connection } = await connections.read(sub);
    if (connection === undefined || connection.state === 'revoked')
      return json(404, { error: 'not_found', sub });
    return json(200, {
      sub,
      appUserId: connection.appUserId,
      state: connection.state,
      settings: await readValues(sub),
      jobs: connection.jobs,
    });
  }
  if (request.method !== 'POST') throw new AppError('method_not_allowed', 405, 'Use GET or POST.');

  const body = request.json;
  const sub = subOf(body?.sub);
  const job = await enabledJob(runtime, body?.job);
  const changed = await changeJobSettings(connections, {
    sub,
    job,
    settings: body?.settings,
    now: new Date(runtime.clock.now()),
  });
  if (changed.kind === 'invalid')
    return json(400, { error: 'invalid_settings', job: job.name, issues: changed.issues });
  if (changed.kind === 'refused')
    return changed.refusal === 'revoke-pending'
      ? json(409, { error: 'revoke_pending', sub })
      : json(404, { error: 'not_found', sub });
  const values = changed.values;
  runtime.log.info('job settings changed', { sub, job: job.name });
  return json(200, { sub, job: job.name, settings: values });
}

export type SettingsChange =
  | { readonly kind: 'written'; readonly values: Record<string, unknown> }
  | { readonly kind: 'invalid'; readonly issues: readonly { path: string; message: string }[] }
  | { readonly kind: 'refused'; readonly refusal: SettingsRefusal };

/**
 * Validates `settings` against the job's schema and writes the parsed value (defaults filled in)
 * with the connection's guarded transition: the API and the operator CLI both come here.
 */
export async function changeJobSettings(
  connections: ConnectionRepository,
  input: { sub: string; job: JobDefinition; settings: unknown; now: Date },
): Promise<SettingsChange> {
  const { sub, job, now } = input;
  const parsed = job.settings
    ? job.settings.safeParse(input.settings)
    : { success: true as const, data: {} };
  if (!parsed.success)
    return {
      kind: 'invalid',
      issues: parsed.error.issues.map((issue) => ({
        path: issue.path.map(String).join('.'),
        message: issue.message,
      })),
    };
  const values = parsed.data;
  const applied = await connections.changeSettings(sub, {
    now,
    record: {
      path: jobSettingsPath(sub),
      op: 'set',
      data: { values: { [job.name]: values }, updatedAt: now },
      // Only this job's settings: a concurrent write for another job is kept.
      mergeFields: [['values', job.name], ['updatedAt']],
    },
  });
  return applied.kind === 'refused'
    ? { kind: 'refused', refusal: applied.refusal }
    : { kind: 'written', values };
}

function subOf(value: unknown): string {
  if (typeof value !== 'string' || !isValidSub(value))
    throw new AppError('bad_request', 400, 'Give the user as "sub" (their Google user id).');
  return value;
}

/** The job's definition (its settings schema), loaded only when the API is used. */
async function enabledJob(runtime: Runtime, name: unknown): Promise<JobDefinition> {
  const [{ loadJobFiles }, { jobCatalog }] = await Promise.all([
    import('../jobs/job-files.ts'),
    import('../jobs/catalog.ts'),
  ]);
  const enabled = runtime.config.jobs;
  const job =
    typeof name === 'string' && enabled.includes(name)
      ? jobCatalog(await loadJobFiles()).get(name)
      : undefined;
  if (job === undefined)
    throw new AppError(
      'bad_request',
      400,
      `Give "job" as one of the enabled jobs: ${enabled.join(', ')}.`,
    );
  return job;
}

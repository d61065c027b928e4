// Firestore security rules through the Firebase Rules REST API (gcloud has no command for them):
// a ruleset is created from the rules file, then the Firestore release points at it.
// https://firebase.google.com/docs/reference/rules/rest
// The access token comes from `gcloud auth print-access-token` (read from its stdout) and travels
// only in the Authorization header: never in an argument, a URL or any output.

export interface RulesApi {
  /** Source of the released rules, or undefined when nothing is released. */
  releasedSource(database: string): Promise<string | undefined>;
  release(database: string, source: string): Promise<void>;
}

export interface RulesApiOptions {
  readonly root: string;
  readonly project: string;
  readonly accessToken: () => Promise<string>;
  readonly fetch?: typeof fetch;
}

export class RulesApiError extends Error {
  readonly code = 'rules_api_failed';
  readonly status: number;

  constructor(what: string, status: number, detail: string) {
    super(`Firebase Rules API: ${what} answered ${status}${detail ? `: ${detail}` : ''}`);
    this.name = 'RulesApiError';
    this.status = status;
  }
}

/** `cloud.firestore` names the (default) database's release; others add `/DATABASE`. */
export function releaseName(project: string, database: string): string {
  const suffix = database === '(default)' ? '' : `/${database}`;
  return `projects/${project}/releases/cloud.firestore${suffix}`;
}

export function rulesApi(options: RulesApiOptions): RulesApi {
  const doFetch = options.fetch ?? fetch;
  const root = `${options.root}/v1`;

  async function call(
    what: string,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; json: unknown }> {
    const token = await options.accessToken();
    const response = await doFetch(`${root}/${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        'x-goog-user-project': options.project,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!response.ok && response.status !== 404) {
      const message = (json as { error?: { message?: unknown } } | undefined)?.error?.message;
      throw new RulesApiError(
        what,
        response.status,
        typeof message === 'string' ? message.slice(0, 300) : '',
      );
    }
    return { status: response.status, json };
  }

  return {
    async releasedSource(database) {
      const release = await call('get release', 'GET', releaseName(options.project, database));
      if (release.status === 404) return undefined;
      const rulesetName = (release.json as { rulesetName?: unknown }).rulesetName;
      if (typeof rulesetName !== 'string') return undefined;
      const ruleset = await call('get ruleset', 'GET', rulesetName);
      if (ruleset.status === 404) return undefined;
      const files =
        (ruleset.json as { source?: { files?: { content?: unknown }[] } }).source?.files ?? [];
      return files.map((file) => (typeof file.content === 'string' ? file.content : '')).join('');
    },

    async release(database, source) {
      const created = await call('create ruleset', 'POST', `projects/${options.project}/rulesets`, {
        source: { files: [{ name: 'firestore.rules', content: source }] },
      });
      const rulesetName = (created.json as { name?: unknown } | undefined)?.name;
      if (created.status === 404 || typeof rulesetName !== 'string')
        throw new RulesApiError('create ruleset', created.status, 'no ruleset name in the answer');
      const name = releaseName(options.project, database);
      const existing = await call('get release', 'GET', name);
      if (existing.status === 404) {
        const made = await call('create release', 'POST', `projects/${options.project}/releases`, {
          name,
          rulesetName,
        });
        if (made.status === 404) throw new RulesApiError('create release', 404, '');
      } else {
        const updated = await call('update release', 'PATCH', name, {
          release: { name, rulesetName },
        });
        if (updated.status === 404) throw new RulesApiError('update release', 404, '');
      }
    },
  };
}

// A fake Firebase Rules API over the same project file as the fake gcloud. It checks the bearer
// token gcloud handed out and logs each request (never the token) like the fake gcloud does.
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { appendLog, readState, writeState } from './state.ts';

export interface FakeRulesServer {
  readonly url: string;
  close(): Promise<void>;
}

export async function startRulesServer(
  stateFile: string,
  logFile: string,
): Promise<FakeRulesServer> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const method = req.method ?? 'GET';
      const path = decodeURIComponent((req.url ?? '').replace(/^\/v1\//, ''));
      const body = Buffer.concat(chunks).toString('utf8');
      const state = readState(stateFile);
      const answer = (status: number, value: unknown): void => {
        appendLog(logFile, {
          tool: 'rules-api',
          args: [method, path],
          stdin: body,
          mutating: method !== 'GET',
          code: status,
        });
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      if (req.headers.authorization !== `Bearer ${state.accessToken}`)
        return answer(401, { error: { code: 401, message: 'bad token' } });
      if (req.headers['x-goog-user-project'] !== state.projectId)
        return answer(403, { error: { code: 403, message: 'quota project missing' } });
      if (!state.services.includes('firebaserules.googleapis.com'))
        return answer(403, { error: { code: 403, message: 'API disabled' } });
      const project = `projects/${state.projectId}`;
      const parsed = body === '' ? {} : (JSON.parse(body) as Record<string, unknown>);

      if (method === 'POST' && path === `${project}/rulesets`) {
        const files = (parsed.source as { files: { content: string }[] }).files;
        const name = `${project}/rulesets/ruleset-${state.counter++}`;
        state.rulesets[name] = files.map((f) => f.content).join('');
        writeState(stateFile, state);
        return answer(200, { name, source: parsed.source });
      }
      if (method === 'POST' && path === `${project}/releases`) {
        const { name, rulesetName } = parsed as { name: string; rulesetName: string };
        if (state.releases[name] !== undefined)
          return answer(409, { error: { message: 'exists' } });
        if (state.rulesets[rulesetName] === undefined)
          return answer(400, { error: { message: 'no ruleset' } });
        state.releases[name] = rulesetName;
        writeState(stateFile, state);
        return answer(200, { name, rulesetName });
      }
      if (path.startsWith(`${project}/releases/`)) {
        const current = state.releases[path];
        if (current === undefined)
          return answer(404, { error: { code: 404, message: 'not found' } });
        if (method === 'GET') return answer(200, { name: path, rulesetName: current });
        if (method === 'PATCH') {
          const { rulesetName } = (parsed as { release: { rulesetName: string } }).release;
          if (state.rulesets[rulesetName] === undefined)
            return answer(400, { error: { message: 'no ruleset' } });
          state.releases[path] = rulesetName;
          writeState(stateFile, state);
          return answer(200, { name: path, rulesetName });
        }
      }
      if (method === 'GET' && path.startsWith(`${project}/rulesets/`)) {
        const content = state.rulesets[path];
        if (content === undefined)
          return answer(404, { error: { code: 404, message: 'not found' } });
        return answer(200, {
          name: path,
          source: { files: [{ name: 'firestore.rules', content }] },
        });
      }
      return answer(400, { error: { message: `fake rules api: unexpected ${method} ${path}` } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

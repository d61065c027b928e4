// A sandbox for running the real deploy CLI as a child process against the fake gcloud (first on
// PATH) and the fake Rules API, with a scripted project in a JSON file.
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCollected, type GcloudResult } from '../../infra/deploy/gcloud.ts';
import { startRulesServer } from './fake-gcloud/rules-server.ts';
import type { FakeRulesServer } from './fake-gcloud/rules-server.ts';
import {
  emptyProject,
  readLog,
  readSecretData,
  readState,
  writeSecretData,
  writeState,
} from './fake-gcloud/state.ts';
import type { FakeState, LogEntry } from './fake-gcloud/state.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const FAKE_BIN = path.join(ROOT, 'test/deploy/fake-gcloud');
export const PROJECT = 'demo-consent-vault';
export const REGION = 'europe-west1';
export const FUNCTION_NAMES = [
  'authorize',
  'callback',
  'revoke',
  'dispatcher',
  'worker',
  'risc',
] as const;

export const ENV_FILE = `# test settings
OAUTH_CLIENT_ID=1234-abc.apps.googleusercontent.com
REVOKE_CALLERS=backend@${PROJECT}.iam.gserviceaccount.com,ops@${PROJECT}.iam.gserviceaccount.com
RETURN_TO_ALLOWLIST=https://app.example.com/a,https://app.example.com/b
LOG_LEVEL=INFO
`;

/** The repository's indexes file plus one composite index, so that index creation is exercised. */
export const INDEXES = {
  ...(JSON.parse(readFileSync(path.join(ROOT, 'firestore.indexes.json'), 'utf8')) as object),
  indexes: [
    {
      collectionGroup: 'connections',
      queryScope: 'COLLECTION',
      fields: [
        { fieldPath: 'status', order: 'ASCENDING' },
        { fieldPath: 'nextRunAt', order: 'ASCENDING' },
      ],
    },
  ],
};

export type RunResult = GcloudResult;

export class Sandbox {
  readonly dir: string;
  readonly stateFile: string;
  readonly logFile: string;
  /** Secret Manager's payloads, apart from the project file (fake-gcloud/state.ts SecretData). */
  readonly secretDataFile: string;
  readonly clientSecret: string;
  readonly clientSecretFile: string;
  /** The --monitoring folder the runs read: a copy of infra/monitoring. */
  readonly monitoringDir: string;
  private rules: FakeRulesServer | undefined;

  private constructor(dir: string) {
    this.dir = dir;
    this.stateFile = path.join(dir, 'project.json');
    this.logFile = path.join(dir, 'calls.log');
    this.secretDataFile = path.join(dir, 'secret-data.json');
    this.clientSecret = `GOCSPX-${randomBytes(18).toString('base64url')}`;
    this.clientSecretFile = path.join(dir, 'client-secret.txt');
    this.monitoringDir = path.join(dir, 'monitoring');
  }

  static async create(state: FakeState = emptyProject(PROJECT)): Promise<Sandbox> {
    const sandbox = new Sandbox(mkdtempSync(path.join(tmpdir(), 'cv-deploy-')));
    const { dir } = sandbox;
    writeState(sandbox.stateFile, state);
    for (const name of FUNCTION_NAMES) {
      mkdirSync(path.join(dir, 'dist', name), { recursive: true });
      writeFileSync(path.join(dir, 'dist', name, 'index.js'), `exports.${name} = () => {};\n`);
      writeFileSync(
        path.join(dir, 'dist', name, 'package.json'),
        JSON.stringify({
          name,
          main: 'index.js',
          dependencies: { '@google-cloud/functions-framework': '^5.0.5' },
        }),
      );
    }
    writeFileSync(path.join(dir, 'deploy.env'), ENV_FILE);
    writeFileSync(
      path.join(dir, 'firestore.rules'),
      readFileSync(path.join(ROOT, 'firestore.rules')),
    );
    writeFileSync(path.join(dir, 'firestore.indexes.json'), JSON.stringify(INDEXES, null, 2));
    // The repository's dashboard and alerts, in a copy a test may change.
    cpSync(path.join(ROOT, 'infra/monitoring'), sandbox.monitoringDir, {
      recursive: true,
      filter: (source) => !source.endsWith('.ts'),
    });
    writeFileSync(sandbox.clientSecretFile, `${sandbox.clientSecret}\n`);
    sandbox.rules = await startRulesServer(sandbox.stateFile, sandbox.logFile);
    return sandbox;
  }

  /** The flags every test run passes; a `--name=value` in `extra` replaces the default. */
  args(extra: readonly string[] = []): string[] {
    const defaults = [
      `--dist=${path.join(this.dir, 'dist')}`,
      `--env-file=${path.join(this.dir, 'deploy.env')}`,
      `--rules=${path.join(this.dir, 'firestore.rules')}`,
      `--indexes=${path.join(this.dir, 'firestore.indexes.json')}`,
      `--rules-api=${this.rules?.url ?? ''}`,
      `--monitoring=${this.monitoringDir}`,
    ].filter((arg) => !extra.some((e) => e.startsWith(arg.slice(0, arg.indexOf('=') + 1))));
    return ['--project', PROJECT, '--region', REGION, '--skip-build', ...defaults, ...extra];
  }

  /** Runs `node infra/deploy/deploy.ts ARGS` with the fake gcloud first on PATH. */
  run(args: readonly string[], stdin?: string): Promise<RunResult> {
    return runCollected(process.execPath, [path.join(ROOT, 'infra/deploy/deploy.ts'), ...args], {
      cwd: ROOT,
      env: this.env(),
      stdin: stdin ?? '',
    });
  }

  /** Runs `gcloud ARGS` on the fake project, as an operator would between two deploys. */
  gcloud(args: readonly string[]): Promise<RunResult> {
    return runCollected(path.join(FAKE_BIN, 'gcloud'), args, { cwd: ROOT, env: this.env() });
  }

  private env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      PATH: `${FAKE_BIN}${path.delimiter}${process.env.PATH ?? ''}`,
      FAKE_GCLOUD_STATE: this.stateFile,
      FAKE_GCLOUD_LOG: this.logFile,
      FAKE_GCLOUD_SECRET_DATA: this.secretDataFile,
      FAKE_GCLOUD_NODE: process.execPath,
      // Each gcloud call starts a Node process; the compile cache makes that several times faster.
      NODE_COMPILE_CACHE: path.join(tmpdir(), 'cv-deploy-test-compile-cache'),
    };
  }

  state(): FakeState {
    return readState(this.stateFile);
  }

  setState(state: FakeState): void {
    writeState(this.stateFile, state);
  }

  /** What Secret Manager holds in that version; undefined when nothing was stored. */
  payload(secret: string, version: number): string | undefined {
    const data = readSecretData(this.secretDataFile)[`${secret}/${version}`];
    return data === undefined ? undefined : Buffer.from(data, 'base64').toString('utf8');
  }

  setPayload(secret: string, version: number, value: string): void {
    const all = readSecretData(this.secretDataFile);
    all[`${secret}/${version}`] = Buffer.from(value, 'utf8').toString('base64');
    writeSecretData(this.secretDataFile, all);
  }

  log(): LogEntry[] {
    return readLog(this.logFile);
  }

  clearLog(): void {
    writeFileSync(this.logFile, '');
  }

  async close(): Promise<void> {
    await this.rules?.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The gcloud argument lists of the mutating calls in a log. */
export function mutations(log: readonly LogEntry[]): (readonly string[])[] {
  return log.filter((entry) => entry.mutating).map((entry) => entry.args);
}

export function flagOf(args: readonly string[], name: string): string | undefined {
  const prefix = `--${name}=`;
  return args.find((arg) => arg.startsWith(prefix))?.slice(prefix.length);
}

// The real Google Cloud CLI with an isolated configuration directory (CLOUDSDK_CONFIG) and an
// environment built from nothing: the machine's gcloud settings, accounts, default project and
// proxies never reach the commands under test, and nothing they do can reach the network.
// Properties as environment variables: https://cloud.google.com/sdk/docs/properties
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface Outcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

/** The first `gcloud` on PATH; an error (not a skip) when there is none. */
export function findGcloud(searchPath = process.env.PATH ?? ''): string {
  for (const dir of searchPath.split(path.delimiter).filter((d) => d !== '')) {
    const candidate = path.join(dir, 'gcloud');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  throw new Error(
    'gcloud is not on PATH: this test checks the deploy against the real Google Cloud CLI ' +
      '(https://cloud.google.com/sdk/docs/install; the emulators of `npm test` need it too)',
  );
}

export interface IsolatedOptions {
  /** `gcloud config set project` in the new configuration (the operator's default project). */
  readonly defaultProject?: string;
  /** Give gcloud a placeholder access token, which only a loopback stand-in accepts. */
  readonly placeholderToken?: boolean;
}

export interface RunOptions {
  readonly stdin?: string;
  readonly cwd?: string;
  readonly timeoutMs?: number;
  /** Send the requests for these APIs to this loopback root URL (api_endpoint_overrides). */
  readonly standIn?: { readonly url: string; readonly apis: readonly string[] };
}

const CLOSED_PORT = 'http://127.0.0.1:9';

export class IsolatedGcloud {
  readonly executable: string;
  private readonly dir: string;
  private readonly env: NodeJS.ProcessEnv;

  private constructor(executable: string, dir: string, env: NodeJS.ProcessEnv) {
    this.executable = executable;
    this.dir = dir;
    this.env = env;
  }

  static async create(executable: string, options: IsolatedOptions = {}): Promise<IsolatedGcloud> {
    const dir = mkdtempSync(path.join(tmpdir(), 'cv-real-gcloud-'));
    const env: NodeJS.ProcessEnv = {
      PATH: [path.dirname(executable), '/usr/bin', '/bin'].join(path.delimiter),
      HOME: dir,
      LANG: 'C.UTF-8',
      CLOUDSDK_CONFIG: path.join(dir, 'config'),
      CLOUDSDK_CORE_DISABLE_PROMPTS: '1',
      CLOUDSDK_CORE_DISABLE_USAGE_REPORTING: 'true',
      CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK: '1',
      // On Compute Engine or Cloud Build the metadata server would hand gcloud an account.
      CLOUDSDK_CORE_CHECK_GCE_METADATA: 'false',
      // Every request to Google goes to a closed local port and fails (after gcloud's retries)
      // instead of reaching the network.
      HTTPS_PROXY: CLOSED_PORT,
      https_proxy: CLOSED_PORT,
    };
    if (options.placeholderToken) {
      const token = path.join(dir, 'placeholder-token');
      writeFileSync(token, 'placeholder-token-for-the-loopback-stand-in\n');
      env.CLOUDSDK_AUTH_ACCESS_TOKEN_FILE = token;
    }
    const gcloud = new IsolatedGcloud(executable, dir, env);
    if (options.defaultProject !== undefined) {
      const set = await gcloud.run(['config', 'set', 'project', options.defaultProject]);
      if (set.code !== 0) throw new Error(`gcloud config set project failed: ${set.stderr}`);
    }
    return gcloud;
  }

  /** `gcloud ARGS`; killed (with everything it started) after `timeoutMs`. */
  run(args: readonly string[], options: RunOptions = {}): Promise<Outcome> {
    const env = { ...this.env };
    if (options.standIn)
      for (const api of options.standIn.apis)
        env[`CLOUDSDK_API_ENDPOINT_OVERRIDES_${api.toUpperCase()}`] = options.standIn.url;
    // The stand-in speaks plain HTTP on loopback; without one, plain HTTP goes nowhere too.
    else Object.assign(env, { HTTP_PROXY: CLOSED_PORT, http_proxy: CLOSED_PORT });
    return new Promise((resolve, reject) => {
      const child = spawn(this.executable, args, {
        env,
        cwd: options.cwd ?? this.dir,
        stdio: ['pipe', 'pipe', 'pipe'],
        // Its own process group, so that a timeout ends the Python interpreter too.
        detached: true,
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      }, options.timeoutMs ?? 60_000);
      child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
      child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
      child.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({
          code: code ?? 1,
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
          timedOut,
        });
      });
      child.stdin.on('error', () => {
        // gcloud may exit before it reads standard input.
      });
      child.stdin.end(options.stdin ?? '');
    });
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Runs `task` over `items`, at most `parallel` at a time, results in input order. */
export async function mapLimited<T, R>(
  items: readonly T[],
  parallel: number,
  task: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) results[i] = await task(items[i] as T);
  };
  await Promise.all(Array.from({ length: Math.min(parallel, items.length) }, worker));
  return results;
}

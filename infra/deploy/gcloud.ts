// Runs `gcloud` from PATH. Arguments never carry secrets: secret data goes on standard input
// (`--data-file=-`), and stdout of describes is parsed as JSON (`--format=json`), never printed.
import { spawn } from 'node:child_process';

export interface GcloudResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Gcloud {
  /** Runs `gcloud ARGS`; `stdin` is written and closed (secret data only travels this way). */
  run(args: readonly string[], stdin?: Buffer): Promise<GcloudResult>;
}

export class GcloudError extends Error {
  readonly code = 'gcloud_failed';
  readonly exitCode: number;

  constructor(args: readonly string[], result: GcloudResult) {
    super(
      `gcloud ${args.slice(0, 3).join(' ')} … failed (exit ${result.code}): ${lastLines(result.stderr)}`,
    );
    this.name = 'GcloudError';
    this.exitCode = result.code;
  }
}

/**
 * Runs a command to completion: writes and closes `stdin`, collects stdout and stderr. Rejects
 * only when the command cannot start; a failing command resolves with its exit code.
 */
export function runCollected(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; stdin?: Buffer | string } = {},
): Promise<GcloudResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(options.env ? { env: options.env } : {}),
      ...(options.cwd ? { cwd: options.cwd } : {}),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({
        code: code ?? 1,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      }),
    );
    child.stdin.on('error', () => {
      // The command may exit before reading stdin; the exit code reports the failure.
    });
    child.stdin.end(options.stdin ?? Buffer.alloc(0));
  });
}

export function spawnGcloud(executable = 'gcloud'): Gcloud {
  return {
    run: (args, stdin) =>
      runCollected(executable, args, {
        // Never wait for an interactive answer.
        env: { ...process.env, CLOUDSDK_CORE_DISABLE_PROMPTS: '1' },
        ...(stdin ? { stdin } : {}),
      }),
  };
}

/** gcloud's ways of saying a resource does not exist. */
const NOT_FOUND = /NOT_FOUND|not found|does not exist|status=\[404\]|was not found/i;

/** Describes a resource; undefined when it does not exist, an error for anything else. */
export async function describe(gcloud: Gcloud, args: readonly string[]): Promise<unknown> {
  const full = [...args, '--format=json'];
  const result = await gcloud.run(full);
  if (result.code === 0) return result.stdout.trim() === '' ? undefined : JSON.parse(result.stdout);
  if (NOT_FOUND.test(result.stderr)) return undefined;
  throw new GcloudError(full, result);
}

/** Runs a command and returns its stdout; throws on failure. */
export async function runChecked(
  gcloud: Gcloud,
  args: readonly string[],
  stdin?: Buffer,
): Promise<string> {
  const result = await gcloud.run(args, stdin);
  if (result.code !== 0) throw new GcloudError(args, result);
  return result.stdout;
}

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-3).join(' | ').slice(0, 600);
}

/**
 * The data of one secret version, in memory only: `secrets versions access --format=json` gives
 * it as `payload.data`, base64 in the URL-safe alphabet, which Buffer's decoder reads too
 * (https://cloud.google.com/sdk/gcloud/reference/secrets/versions/access). Never printed.
 */
export async function accessSecretVersion(
  gcloud: Gcloud,
  project: string,
  secret: string,
  version: number,
): Promise<string> {
  const args = ['secrets', 'versions', 'access', String(version), `--secret=${secret}`];
  const answer = (await describe(gcloud, [...args, `--project=${project}`])) as
    { payload?: { data?: unknown } } | undefined;
  const data = answer?.payload?.data;
  if (typeof data !== 'string')
    throw new GcloudError(args, { code: 0, stdout: '', stderr: 'no payload in the answer' });
  return Buffer.from(data, 'base64').toString('utf8');
}

// The data the plan's steps send to gcloud on standard input (plan.ts SecretInput), made only
// when a step needs it, in memory, never printed and never on disk: the OAuth client secret from
// --client-secret-file, a new DPoP key set (dpop-keys.ts), and keysets that are generated, split
// from a master keyset (a migration) or read as they are, then wrapped with Cloud KMS where the
// step says so (kms.ts).
import { readFileSync } from 'node:fs';
import { generateKeysetJson, parseKeyset, purposeKeysetJson } from '../../shared/crypto/keyset.ts';
import type { KeyPurpose } from '../../shared/crypto/keyset.ts';
import { isOperationError, KEYSET_INVALID } from '../../shared/errors.ts';
import { generateDpopKeysJson } from './dpop-keys.ts';
import { accessSecretVersion } from './gcloud.ts';
import type { Gcloud } from './gcloud.ts';
import { InputError } from './input-error.ts';
import { wrapWithGcloud } from './kms.ts';
import type { KeysetSource, SecretInput } from './plan.ts';

export interface SecretInputDeps {
  readonly gcloud: Gcloud;
  readonly project: string;
  /** --client-secret-file: a path, or '-' for standard input. */
  readonly clientSecretFile: string | undefined;
  readonly readStdin: () => Buffer;
  /** Prints a command the inputs run themselves (`gcloud kms encrypt`), before running it. */
  readonly show: (args: readonly string[]) => void;
}

export class SecretInputs {
  private readonly deps: SecretInputDeps;
  /** By input, so that one run sends one value for one input (a keyset is generated once). */
  private readonly values = new Map<string, Promise<Buffer>>();
  private readonly stored = new Map<string, Promise<string>>();

  constructor(deps: SecretInputDeps) {
    this.deps = deps;
  }

  get(input: SecretInput): Promise<Buffer> {
    const id = JSON.stringify(input);
    let value = this.values.get(id);
    if (value === undefined) {
      value = this.make(input);
      this.values.set(id, value);
    }
    return value;
  }

  private make(input: SecretInput): Promise<Buffer> {
    switch (input.kind) {
      case 'client-secret':
        return this.clientSecret();
      case 'dpop-keys':
        return Promise.resolve(Buffer.from(generateDpopKeysJson(), 'utf8'));
      case 'keyset':
        return this.keyset(input);
    }
  }

  private async keyset(input: Extract<SecretInput, { kind: 'keyset' }>): Promise<Buffer> {
    const json = await this.keysetJson(input.purpose, input.source);
    if (input.wrapWith === undefined) return Buffer.from(json, 'utf8');
    const wrapped = await wrapWithGcloud(this.deps.gcloud, input.wrapWith, json, this.deps.show);
    return Buffer.from(wrapped, 'utf8');
  }

  private async keysetJson(purpose: KeyPurpose, source: KeysetSource): Promise<string> {
    if (source.kind === 'generated') return generateKeysetJson('k1', purpose);
    const stored = await this.read(source.secret, source.version);
    const where = `secret ${source.secret} version ${source.version}`;
    try {
      // Exactly the keys the master derives for this purpose: sealed values stay readable.
      if (source.kind === 'split') return purposeKeysetJson(stored, purpose);
      if (parseKeyset(stored).purpose === purpose) return stored;
    } catch (error) {
      // shared/crypto's messages never hold key bytes.
      if (isOperationError(error, KEYSET_INVALID))
        throw new InputError(`${where}: ${error.message}`);
      throw error;
    }
    // The plan saw another content when it observed: the version changed since.
    throw new InputError(`${where} no longer holds a ${purpose} keyset`);
  }

  private read(secret: string, version: number): Promise<string> {
    const id = `${secret}/${version}`;
    let value = this.stored.get(id);
    if (value === undefined) {
      value = accessSecretVersion(this.deps.gcloud, this.deps.project, secret, version);
      this.stored.set(id, value);
    }
    return value;
  }

  private clientSecret(): Promise<Buffer> {
    const file = this.deps.clientSecretFile;
    if (file === undefined)
      return Promise.reject(
        new InputError('the client secret is needed: pass --client-secret-file'),
      );
    const raw = file === '-' ? this.deps.readStdin() : readFileSync(file);
    // A trailing newline from `echo` or an editor is not part of the secret.
    const value = Buffer.from(raw.toString('utf8').replace(/\r?\n$/, ''), 'utf8');
    if (value.length === 0) return Promise.reject(new InputError('the client secret is empty'));
    return Promise.resolve(value);
  }
}

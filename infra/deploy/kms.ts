// Wrapping a keyset with Cloud KMS through gcloud, for the deploy; the functions unwrap it with
// Cloud KMS REST API (shared/secrets/kms.ts). The keyset reaches `gcloud kms encrypt` on standard
// input only. The additional authenticated data (consent-vault/keyset/<purpose>, not secret) and
// the ciphertext pass through a private temporary folder, because gcloud reads at most one of its
// files from stdin and writes the ciphertext as raw bytes
// (https://cloud.google.com/sdk/gcloud/reference/kms/encrypt). The envelope is made by
// shared/crypto's own wrapKeyset, so the deploy stores exactly what the runtime opens.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { wrapKeyset, type KeyWrapper } from '../../shared/crypto/wrapped-keyset.ts';
import type { KmsKey } from './desired.ts';
import { GcloudError, runChecked } from './gcloud.ts';
import type { Gcloud } from './gcloud.ts';

/** `gcloud kms encrypt` of standard input with `key`: the plan prints it, wrapWithGcloud runs it. */
export function encryptArgs(key: KmsKey, files: { ciphertext: string; aad: string }): string[] {
  return [
    'kms',
    'encrypt',
    `--project=${key.project}`,
    `--location=${key.location}`,
    `--keyring=${key.keyRing}`,
    `--key=${key.key}`,
    '--plaintext-file=-',
    `--ciphertext-file=${files.ciphertext}`,
    `--additional-authenticated-data-file=${files.aad}`,
  ];
}

/** The wrapped keyset JSON, {"wrapped":{kmsKey,purpose,ciphertext}}, of a purpose keyset. */
export function wrapWithGcloud(
  gcloud: Gcloud,
  key: KmsKey,
  keysetJson: string,
  show: (args: readonly string[]) => void,
): Promise<string> {
  const wrapper: KeyWrapper = {
    async encrypt(_kmsKey, plaintext, aad) {
      // mkdtemp makes the folder readable by this user only (mode 0700).
      const dir = mkdtempSync(path.join(tmpdir(), 'cv-deploy-kms-'));
      try {
        const files = { ciphertext: path.join(dir, 'ciphertext'), aad: path.join(dir, 'aad') };
        writeFileSync(files.aad, aad, { mode: 0o600 });
        const args = encryptArgs(key, files);
        show(args);
        await runChecked(gcloud, args, plaintext);
        const ciphertext = readFileSync(files.ciphertext);
        if (ciphertext.length === 0)
          throw new GcloudError(args, { code: 0, stdout: '', stderr: 'no ciphertext written' });
        return ciphertext;
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    decrypt: () => Promise.reject(new Error('the deploy never unwraps a keyset')),
  };
  return wrapKeyset(wrapper, { keysetJson, kmsKey: key.name });
}

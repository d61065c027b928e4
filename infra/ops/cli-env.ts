// Settings for the operator CLIs (report, connections, trigger): the process environment, filled in
// from .local/stack.json when `npm start` wrote one (its emulator hosts and topics), so the tools
// work against the local stack without exporting anything. Deployed projects: set
// GOOGLE_CLOUD_PROJECT (and nothing else) with application-default credentials.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createFirestore } from '../../shared/store/firestore.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export function cliEnv(): Record<string, string | undefined> {
  let stack: Record<string, string> = {};
  try {
    const parsed = JSON.parse(readFileSync(path.join(ROOT, '.local', 'stack.json'), 'utf8')) as {
      env?: Record<string, string>;
    };
    stack = parsed.env ?? {};
  } catch {
    // No local stack state: the environment alone.
  }
  return { GOOGLE_CLOUD_PROJECT: 'demo-consent-vault', ...stack, ...process.env };
}

export async function cliFirestore(env: Record<string, string | undefined>) {
  return createFirestore({
    projectId: env.GOOGLE_CLOUD_PROJECT ?? 'demo-consent-vault',
    firestoreDatabase: env.FIRESTORE_DATABASE ?? '(default)',
    firestoreEmulatorHost: env.FIRESTORE_EMULATOR_HOST,
  });
}

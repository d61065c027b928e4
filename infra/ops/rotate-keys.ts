// npm run rotate-keys [-- --status | --reseal-only | --drop KEY_ID]
// The one way to rotate the token keys (docs/operations.md#rotate-the-keys):
//   (default)      adds a new primary key to the keyset file, then re-seals every stored value
//                  under it, and prints the values per key id;
//   --reseal-only  re-seals under the keyset's current primary (after a rotated keyset was
//                  deployed to every function of a project); resumable: just run it again;
//   --status       prints the values per key id, changing nothing;
//   --drop KEY_ID  removes a key from the keyset file, refused while any stored value uses it.
// The keyset file is TOKEN_KEYSET_FILE (the local stack's .local/token-keyset.json by default),
// plain or wrapped by Cloud KMS (re-wrapped under the same KMS key); other sources (a Secret
// Manager version) take --status and --reseal-only. Key material is never printed.
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import {
  dropKeyJson,
  parseKeyset,
  rotateKeysetJson,
  type Keyset,
} from '../../shared/crypto/keyset.ts';
import { unwrapKeyset, wrapKeyset, wrappedKeyset } from '../../shared/crypto/wrapped-keyset.ts';
import { keyUsage, resealAll } from '../../shared/keys/rotation.ts';
import { kmsKeyWrapper } from '../../shared/secrets/kms.ts';
import { cliEnv, cliFirestore } from './cli-env.ts';
import { cliKeyset } from './cli-keyset.ts';
import { keyUsageTable } from './key-usage-table.ts';

const { values } = parseArgs({
  options: {
    status: { type: 'boolean', default: false },
    'reseal-only': { type: 'boolean', default: false },
    drop: { type: 'string' },
  },
});
const env = cliEnv();
const file =
  env.TOKEN_KEYSET_FILE ??
  (env.TOKEN_KEYSET || env.TOKEN_KEYSET_VERSION ? undefined : '.local/token-keyset.json');
const db = await cliFirestore(env);

/** The keyset file's plain JSON, and how to store a changed one the same way. */
async function keysetFile(path: string) {
  const stored = await readFile(path, 'utf8');
  const wrapped = wrappedKeyset(stored);
  const kms = wrapped ? await kmsKeyWrapper(env.KMS_ENDPOINT) : undefined;
  const json = wrapped && kms ? await unwrapKeyset(kms, wrapped) : stored;
  return {
    json,
    async save(next: string) {
      const out =
        wrapped && kms ? await wrapKeyset(kms, { keysetJson: next, kmsKey: wrapped.kmsKey }) : next;
      await writeFile(path, out, { mode: 0o600 });
    },
  };
}

async function printUsage(keyset: Keyset): Promise<Map<string, number>> {
  const usage = await keyUsage(db);
  console.log(keyUsageTable(keyset, usage));
  return usage;
}

try {
  if (values.status) {
    await printUsage(file ? parseKeyset((await keysetFile(file)).json) : await currentKeyset());
  } else if (values.drop !== undefined) {
    if (!file) throw new Error('--drop changes the keyset file: set TOKEN_KEYSET_FILE');
    const stored = await keysetFile(file);
    const inUse = (await keyUsage(db)).get(values.drop) ?? 0;
    if (inUse > 0) {
      console.error(
        `rotate-keys: key "${values.drop}" still seals ${inUse} stored value(s): run rotate-keys --reseal-only first`,
      );
      process.exitCode = 1;
    } else {
      const next = dropKeyJson(stored.json, values.drop);
      await stored.save(next);
      console.log(`dropped key "${values.drop}"`);
      await printUsage(parseKeyset(next));
    }
  } else {
    let keyset: Keyset;
    if (values['reseal-only'] || !file)
      keyset = file ? parseKeyset((await keysetFile(file)).json) : await currentKeyset();
    else {
      const stored = await keysetFile(file);
      const current = parseKeyset(stored.json);
      const nextId = nextKeyId(current.keyIds);
      const next = rotateKeysetJson(stored.json, nextId);
      await stored.save(next);
      keyset = parseKeyset(next);
      console.log(
        `added key "${nextId}" as the primary of ${file}; restart the functions (npm start) so they seal with it`,
      );
    }
    const keys = keyset.forPurpose('token');
    const done = await resealAll(db, keys, (progress) => {
      const line = `  re-sealed ${progress.resealed}, left alone ${progress.skipped}, scanned ${progress.scanned}`;
      if (process.stdout.isTTY) process.stdout.write(`\r${line}   `);
    });
    if (process.stdout.isTTY) process.stdout.write('\n');
    console.log(
      `re-sealed ${done.resealed} connection(s) under "${keys.primaryId}"; ${done.skipped} changed meanwhile and were left alone`,
    );
    await printUsage(keyset);
  }
} finally {
  await db.terminate();
}

async function currentKeyset(): Promise<Keyset> {
  return cliKeyset(env);
}

function nextKeyId(ids: readonly string[]): string {
  const numbers = ids
    .map((id) => /^k(\d+)$/.exec(id)?.[1])
    .filter((n): n is string => n !== undefined);
  return `k${Math.max(0, ...numbers.map(Number)) + 1}`;
}

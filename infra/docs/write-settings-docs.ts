// `npm run docs:settings`: writes the files generated from the settings schema (see
// ./settings-docs.ts). Run it after changing shared/settings/schema.ts and commit the result;
// test/unit/settings-schema.test.ts fails until they match.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GENERATED_FILES } from './settings-docs.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

for (const file of GENERATED_FILES) {
  const target = path.join(root, file.path);
  const text = file.render();
  const before = await readFile(target, 'utf8').catch(() => undefined);
  if (before === text) {
    console.log(`${file.path}: up to date`);
    continue;
  }
  await mkdir(path.dirname(target), { recursive: true });
  await writeFile(target, text);
  console.log(`${file.path}: written`);
}

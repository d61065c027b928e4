// Starts a bench function from its bundle (infra/build.ts's `bundle`, as deployed) with a V8 code
// cache, as the deploy's loader does: bundled-function.ts <app.js> <the bundle's own arguments>.
// The cache is made by the live process when the bench asks (IPC 'code-cache', after a run), so
// it holds the code that really ran; an instance started later (a kill's replacement) compiles
// from it instead of from scratch, like a deployed instance with its cache shipped beside it.
import { readFileSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import path from 'node:path';
import vm from 'node:vm';

const filename = path.resolve(process.argv[2] ?? '');
const cacheFile = `${filename}.v8cache`;
// The bundle reads its role and options from argv[2...], as when run directly.
process.argv.splice(2, 1);
let cachedData: Buffer | undefined;
try {
  cachedData = readFileSync(cacheFile);
} catch {
  cachedData = undefined;
}
const script = new vm.Script(Module.wrap(readFileSync(filename, 'utf8')), {
  filename,
  ...(cachedData ? { cachedData } : {}),
  importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
});
const app = new Module(filename);
app.filename = filename;
(script.runInThisContext() as (...args: unknown[]) => void).call(
  app.exports,
  app.exports,
  Module.createRequire(filename),
  app,
  filename,
  path.dirname(filename),
);
app.loaded = true;

process.on('message', (message) => {
  if (message !== 'code-cache') return;
  const data = script.createCachedData();
  writeFileSync(cacheFile, data);
  process.send?.({ codeCacheBytes: data.length });
});

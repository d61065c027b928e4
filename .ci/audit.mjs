// Known advisories against what is deployed: `npm audit --omit=dev` over the root lockfile (the
// production dependencies are what the bundles hold, infra/build.ts). Prints what it found; a
// high or critical advisory fails CI. When the registry's audit service does not answer (mirrors
// and offline registries serve packages but not /-/npm/v1/security), it says the audit did not run
// and CI goes on: see docs/security.md#supply-chain for why.
import { spawnSync } from 'node:child_process';

const FAILING = new Set(['high', 'critical']);

const result = spawnSync('npm', ['audit', '--omit=dev', '--json'], { encoding: 'utf8' });
let report;
try {
  report = JSON.parse(result.stdout);
} catch {
  report = { error: { summary: (result.stderr || String(result.error)).trim() } };
}

if (report.auditReportVersion === undefined || report.vulnerabilities === undefined) {
  const why = report.statusCode
    ? `${report.statusCode} from ${report.uri}`
    : (report.error?.code ?? report.error?.summary ?? report.message ?? 'no report');
  console.log(`npm audit --omit=dev did NOT run: the audit service gave no report (${why}).`);
  process.exit(0);
}

const counts = report.metadata.vulnerabilities;
console.log(
  `npm audit --omit=dev: ${report.metadata.dependencies.prod} production packages; advisories: ` +
    ['critical', 'high', 'moderate', 'low', 'info']
      .map((level) => `${counts[level]} ${level}`)
      .join(', '),
);
for (const vulnerability of Object.values(report.vulnerabilities)) {
  const advisories = vulnerability.via.filter((via) => typeof via === 'object');
  const through = vulnerability.via.filter((via) => typeof via === 'string');
  for (const advisory of advisories)
    console.log(
      `  ${advisory.severity.padEnd(8)} ${vulnerability.name} ${advisory.range}: ${advisory.title} ${advisory.url}`,
    );
  if (through.length > 0)
    console.log(
      `  ${vulnerability.severity.padEnd(8)} ${vulnerability.name} ${vulnerability.range}: through ${through.join(', ')}`,
    );
}
const failing = Object.values(report.vulnerabilities).filter((v) => FAILING.has(v.severity));
if (failing.length > 0) {
  console.log(
    `High or critical advisories in ${failing.map((v) => v.name).join(', ')}: update them (npm audit fix --omit=dev, or a newer version).`,
  );
  process.exit(1);
}

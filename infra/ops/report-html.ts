// The HTML page of `npm run report -- --html FILE`: the last runs as charts drawn here as inline SVG
// (outcomes per run, the newest run's per-user durations, errors by class per run) and a table.
// Self-contained and safe to open from anywhere: no script, font, image or request of any kind,
// which its Content-Security-Policy also forbids
// (https://developer.mozilla.org/docs/Web/HTTP/Headers/Content-Security-Policy), and every text
// from the data (run ids, halt reasons, outcome and class names) is HTML-escaped.
import type { RunReport } from '../../shared/runs/report.ts';
import { escapeHtml } from '../../shared/web/pages.ts';
import type { DurationBucket, RunHistory } from './run-history.ts';

export const REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/** Fixed colours for the outcomes people look for; anything else takes the palette in order. */
const OUTCOME_COLOURS: Readonly<Record<string, string>> = {
  ok: '#2e7d32',
  failed: '#c62828',
  'dead-lettered': '#6a1b9a',
  'needs-reconnect': '#ef6c00',
  'needs-consent': '#f9a825',
  'needs-settings': '#00838f',
  'revoke-pending': '#5d4037',
  revoked: '#455a64',
  skipped: '#9e9e9e',
  pending: '#bdbdbd',
};
const PALETTE = ['#1565c0', '#ad1457', '#558b2f', '#4527a0', '#d84315', '#00695c', '#827717'];

const WIDTH = 720;
const PLOT = { left: 48, top: 16, height: 200 };
const LABEL_SPACE = 96;

const STYLE = `
:root{color-scheme:light;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;line-height:1.4}
body{margin:0;padding:1.5rem;background:#fff;color:#1b1b1b}
main{max-width:48rem;margin:0 auto}
h1{font-size:1.4rem;margin:0 0 .25rem}
h2{font-size:1.1rem;margin:2rem 0 .5rem}
.chart{display:block;max-width:100%;height:auto}
.chart text{font-size:11px;fill:#333}
.chart .axis line{stroke:#ccc}
.legend{list-style:none;padding:0;margin:.25rem 0;display:flex;flex-wrap:wrap;gap:.25rem 1rem;font-size:.85rem}
.swatch{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:-.1rem}
table{border-collapse:collapse;font-size:.85rem}
th,td{text-align:left;padding:.2rem .6rem;border-bottom:1px solid #ddd;white-space:nowrap}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.note{font-size:.85rem;color:#555}
`;

export function renderReportPage(history: RunHistory, generatedAt: Date): string {
  // Oldest on the left, as on a time axis.
  const runs = [...history.reports].reverse();
  const outcomeKeys = keysOf(runs.map((run) => withPending(run)));
  const failureKeys = keysOf(runs.map((run) => run.failures));
  const outcomeColours = coloursFor(outcomeKeys, OUTCOME_COLOURS);
  const failureColours = coloursFor(failureKeys, {});
  const newest = history.reports[0];
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(REPORT_CSP)}">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>Run report</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>Run report</h1>
<p class="note">The last ${runs.length} run(s), generated ${escapeHtml(generatedAt.toISOString())}. Counts are each run's ledger.</p>
<h2 id="outcomes-title">Outcomes per run</h2>
${stackedBars('outcomes', runs, withPending, outcomeKeys, outcomeColours)}
${legend(outcomeKeys, outcomeColours)}
<h2 id="durations-title">Per-user duration${newest ? `, run ${escapeHtml(newest.runId)}` : ''}</h2>
${histogram(history.durations)}
<p class="note">p50 ${ms(newest?.p50Ms)}, p95 ${ms(newest?.p95Ms)}.</p>
<h2 id="failures-title">Errors by class per run</h2>
${stackedBars('failures', runs, (run) => run.failures, failureKeys, failureColours)}
${failureKeys.length > 0 ? legend(failureKeys, failureColours) : '<p class="note">No failures in these runs.</p>'}
<h2>Runs</h2>
${runTable(history.reports)}
</main>
</body>
</html>
`;
}

function withPending(run: RunReport): Readonly<Record<string, number>> {
  return run.pending > 0 ? { ...run.outcomes, pending: run.pending } : run.outcomes;
}

function keysOf(counts: readonly Readonly<Record<string, number>>[]): string[] {
  return [...new Set(counts.flatMap((count) => Object.keys(count)))].sort();
}

function coloursFor(
  keys: readonly string[],
  fixed: Readonly<Record<string, string>>,
): Map<string, string> {
  let next = 0;
  return new Map(keys.map((key) => [key, fixed[key] ?? PALETTE[next++ % PALETTE.length]!]));
}

/** A round axis top at or above `max` and its step (1, 2 or 5 times a power of ten). */
function axis(max: number): { top: number; step: number } {
  if (max <= 0) return { top: 1, step: 1 };
  const rough = max / 4;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = Math.max(1, [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough) ?? power);
  return { top: Math.ceil(max / step) * step, step };
}

function yAxis(max: number): { scale: (value: number) => number; markup: string } {
  const { top, step } = axis(max);
  const scale = (value: number) => (value / top) * PLOT.height;
  const ticks: string[] = [];
  for (let value = 0; value <= top; value += step) {
    const y = PLOT.top + PLOT.height - scale(value);
    ticks.push(
      `<line x1="${PLOT.left}" x2="${WIDTH}" y1="${y}" y2="${y}"/>` +
        `<text x="${PLOT.left - 6}" y="${y + 4}" text-anchor="end">${value}</text>`,
    );
  }
  return { scale, markup: `<g class="axis">${ticks.join('')}</g>` };
}

function stackedBars(
  id: string,
  runs: readonly RunReport[],
  countsOf: (run: RunReport) => Readonly<Record<string, number>>,
  keys: readonly string[],
  colours: ReadonlyMap<string, string>,
): string {
  const totals = runs.map((run) => Object.values(countsOf(run)).reduce((a, b) => a + b, 0));
  const { scale, markup } = yAxis(Math.max(0, ...totals));
  const slot = (WIDTH - PLOT.left) / Math.max(1, runs.length);
  const barWidth = Math.min(48, slot * 0.6);
  const base = PLOT.top + PLOT.height;
  const bars = runs.map((run, index) => {
    const counts = countsOf(run);
    const x = PLOT.left + slot * index + (slot - barWidth) / 2;
    let y = base;
    const segments = keys
      .filter((key) => (counts[key] ?? 0) > 0)
      .map((key) => {
        const count = counts[key]!;
        const height = scale(count);
        y -= height;
        return (
          `<rect class="segment" data-key="${escapeHtml(key)}" data-count="${count}" x="${x}" y="${y}" ` +
          `width="${barWidth}" height="${height}" fill="${colours.get(key)}">` +
          `<title>${escapeHtml(`${key}: ${count}`)}</title></rect>`
        );
      });
    const cx = x + barWidth / 2;
    const summary = Object.entries(counts)
      .map(([key, count]) => `${key} ${count}`)
      .join(', ');
    return (
      `<g class="bar" data-run="${escapeHtml(run.runId)}" data-total="${totals[index]}">` +
      `<title>${escapeHtml(`${run.runId}: ${summary || 'none'}`)}</title>${segments.join('')}` +
      `<text class="label" x="${cx}" y="${base + 14}" text-anchor="end" transform="rotate(-35 ${cx} ${base + 14})">` +
      `${escapeHtml(run.runId)}</text></g>`
    );
  });
  return (
    `<svg id="${id}" class="chart" role="img" aria-labelledby="${id}-title" ` +
    `viewBox="0 0 ${WIDTH} ${base + LABEL_SPACE}" width="${WIDTH}" height="${base + LABEL_SPACE}" ` +
    `xmlns="http://www.w3.org/2000/svg">${markup}${bars.join('')}</svg>`
  );
}

function histogram(buckets: readonly DurationBucket[]): string {
  const { scale, markup } = yAxis(Math.max(0, ...buckets.map((bucket) => bucket.users)));
  const slot = (WIDTH - PLOT.left) / Math.max(1, buckets.length);
  const barWidth = slot * 0.8;
  const base = PLOT.top + PLOT.height;
  const bars = buckets.map((bucket, index) => {
    const x = PLOT.left + slot * index + (slot - barWidth) / 2;
    const height = scale(bucket.users);
    const name = bucketName(bucket);
    return (
      `<g class="bar" data-bucket="${escapeHtml(name)}" data-count="${bucket.users}">` +
      `<rect class="segment" x="${x}" y="${base - height}" width="${barWidth}" height="${height}" fill="#1565c0">` +
      `<title>${escapeHtml(`${name}: ${bucket.users} user(s)`)}</title></rect>` +
      `<text x="${x + barWidth / 2}" y="${base - height - 4}" text-anchor="middle">${bucket.users}</text>` +
      `<text class="label" x="${x + barWidth / 2}" y="${base + 16}" text-anchor="middle">${escapeHtml(name)}</text></g>`
    );
  });
  const height = base + 32;
  return (
    `<svg id="durations" class="chart" role="img" aria-labelledby="durations-title" ` +
    `viewBox="0 0 ${WIDTH} ${height}" width="${WIDTH}" height="${height}" ` +
    `xmlns="http://www.w3.org/2000/svg">${markup}${bars.join('')}</svg>`
  );
}

function bucketName(bucket: DurationBucket): string {
  if (bucket.aboveMs === undefined) return `≤ ${duration(bucket.atMostMs ?? 0)}`;
  if (bucket.atMostMs === undefined) return `> ${duration(bucket.aboveMs)}`;
  return `${duration(bucket.aboveMs)}–${duration(bucket.atMostMs)}`;
}

function duration(valueMs: number): string {
  return valueMs >= 1000 ? `${valueMs / 1000} s` : `${valueMs} ms`;
}

function ms(value: number | undefined): string {
  return value === undefined ? '-' : `${value} ms`;
}

function legend(keys: readonly string[], colours: ReadonlyMap<string, string>): string {
  const items = keys.map(
    (key) =>
      `<li><span class="swatch" style="background:${colours.get(key)}"></span>${escapeHtml(key)}</li>`,
  );
  return `<ul class="legend">${items.join('')}</ul>`;
}

function runTable(reports: readonly RunReport[]): string {
  const rows = reports.map((report) => {
    const status = report.status + (report.haltReason ? ` (${report.haltReason})` : '');
    const cells = [
      `<td>${escapeHtml(report.runId)}</td>`,
      `<td>${escapeHtml(status)}</td>`,
      `<td>${escapeHtml(report.startedAt.toISOString())}</td>`,
      `<td class="n">${report.users}</td>`,
      `<td class="n">${report.outcomes.ok ?? 0}</td>`,
      `<td class="n">${report.recorded - (report.outcomes.ok ?? 0)}</td>`,
      `<td class="n">${report.pending}</td>`,
      `<td class="n">${ms(report.p50Ms)}</td>`,
      `<td class="n">${ms(report.p95Ms)}</td>`,
    ];
    return `<tr>${cells.join('')}</tr>`;
  });
  const header = ['run', 'status', 'started', 'users', 'ok', 'not ok', 'pending', 'p50', 'p95'];
  return (
    `<table id="runs"><thead><tr>${header.map((h) => `<th scope="col">${h}</th>`).join('')}</tr></thead>` +
    `<tbody>${rows.join('')}</tbody></table>`
  );
}

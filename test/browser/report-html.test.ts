// `npm run report -- --html FILE` against runs on the Firestore emulator, opened in real Chromium:
// each chart has one bar per run (or bucket) with the ledger's counts, the page makes no request
// of any kind, and a screenshot of each chart shows more than a blank background.
import { execFile } from 'node:child_process';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPORT_CSP } from '../../infra/ops/report-html.ts';
import { DURATION_BOUNDS_MS } from '../../infra/ops/run-history.ts';
import { connectionReportSource, type ExportSource } from '../../shared/jobs/export-source.ts';
import { createDriveExportJob } from '../../shared/jobs/builtin/drive-export.ts';
import { memoryPublisher } from '../../shared/pubsub/publisher.ts';
import { dispatchRun } from '../../shared/runs/dispatch.ts';
import { readRunReport, type RunReport } from '../../shared/runs/report.ts';
import { launchChromium, type LaunchedChromium } from '../support/chromium.ts';
import {
  expireAccessTokens,
  startRunHarness,
  stopOwnEmulators,
  type RunHarness,
} from '../runs/harness.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

let harness: RunHarness;
let browser: LaunchedChromium;
let dir: string;
const failing = new Set<string>();
const source: ExportSource = {
  produce(input) {
    if (failing.has(input.connection.sub)) throw new Error('export source broken');
    return connectionReportSource.produce(input);
  },
};

beforeAll(async () => {
  harness = await startRunHarness('report-html', {
    RUN_INLINE: 'true',
    RUN_BATCH_SIZE: '4',
    WORKER_CONCURRENCY: '4',
  });
  browser = await launchChromium();
  dir = await mkdtemp(path.join(tmpdir(), 'cv-report-html-'));
});
afterAll(async () => {
  await browser?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
  await harness?.close();
  await stopOwnEmulators();
});

async function run(day: string): Promise<RunReport> {
  const deps = await harness.deps({
    publisher: memoryPublisher(),
    jobs: [createDriveExportJob({ source })],
  });
  const result = await dispatchRun(deps, { scheduledAt: Date.parse(`${day}T03:00:00Z`) });
  const report = await readRunReport(harness.db, result.runId);
  if (!report) throw new Error(`no report for ${result.runId}`);
  return report;
}

/** `npm run report -- <args>` against this harness's emulator (async: nothing here may block). */
function reportCli(
  args: readonly string[],
  project = harness.env.GOOGLE_CLOUD_PROJECT,
): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(ROOT, 'infra/node24.mjs'), 'infra/ops/report.ts', ...args],
      {
        cwd: ROOT,
        encoding: 'utf8',
        env: {
          ...process.env,
          GOOGLE_CLOUD_PROJECT: project,
          FIRESTORE_EMULATOR_HOST: harness.env.FIRESTORE_EMULATOR_HOST,
        },
      },
      (error, stdout, stderr) =>
        resolve({ status: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

interface DrawnBar {
  readonly label: string;
  readonly segments: Record<string, number>;
}

/** Each bar group of a chart: its label and its segments' counts by key. */
async function barsOf(page: Page, chart: string): Promise<DrawnBar[]> {
  const bars: DrawnBar[] = [];
  for (const group of await page.locator(`svg#${chart} g.bar`).all()) {
    const segments: Record<string, number> = {};
    for (const [index, rect] of (await group.locator('rect.segment').all()).entries())
      segments[(await rect.getAttribute('data-key')) ?? String(index)] = Number(
        await rect.getAttribute('data-count'),
      );
    bars.push({ label: (await group.locator('text.label').textContent()) ?? '', segments });
  }
  return bars;
}

// Runs in the browser (the project's types have no DOM): decodes a base64 PNG and counts its
// pixels per colour (#rrggbb).
const COUNT_COLOURS = `async (base64) => {
  const bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
  const bitmap = await createImageBitmap(new Blob([bytes], { type: 'image/png' }));
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext('2d');
  context.drawImage(bitmap, 0, 0);
  const { data } = context.getImageData(0, 0, bitmap.width, bitmap.height);
  const pixels = {};
  for (let index = 0; index < data.length; index += 4) {
    const rgb = (data[index] << 16) | (data[index + 1] << 8) | data[index + 2];
    const colour = '#' + rgb.toString(16).padStart(6, '0');
    pixels[colour] = (pixels[colour] ?? 0) + 1;
  }
  return pixels;
}`;

/** A PNG's pixels per colour, decoded by the browser in a blank page of its own. */
async function pixelsIn(png: Buffer): Promise<Record<string, number>> {
  const page = await browser.context.newPage();
  try {
    return await page.evaluate<Record<string, number>>(
      `(${COUNT_COLOURS})(${JSON.stringify(png.toString('base64'))})`,
    );
  } finally {
    await page.close();
  }
}

describe('the HTML report in a real browser', () => {
  it('draws outcomes, durations and errors by class for the last runs, and requests nothing', async () => {
    const users = await harness.seedUsers(6, { prefix: 'html' });
    const allOk = await run('2026-10-01');
    // Second run: one grant needs re-consent at Google, one user's export breaks.
    await expireAccessTokens(harness.db, [users[1]!.sub]);
    harness.standIn.control.requireReauth(users[1]!.email);
    failing.add(users[3]!.sub);
    const mixed = await run('2026-10-02');
    failing.clear();
    const third = await run('2026-10-03');
    const reports = [allOk, mixed, third];
    expect(allOk.outcomes).toEqual({ ok: 6 });
    expect(mixed.outcomes).toMatchObject({ ok: 4, 'needs-reconnect': 1, failed: 1 });
    expect(Object.keys(mixed.failures).length).toBeGreaterThan(0);

    const file = path.join(dir, 'report.html');
    const cli = await reportCli(['--html', file]);
    expect(cli.stderr).toBe('');
    expect(cli).toMatchObject({ status: 0, stdout: `wrote ${file} (3 run(s))\n` });

    const page = await browser.context.newPage();
    const requests: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    await page.goto(pathToFileURL(file).href);
    expect(requests).toEqual([pathToFileURL(file).href]);
    expect(
      await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content'),
    ).toBe(REPORT_CSP);

    // Outcomes: one stacked bar per run, oldest first, a segment per outcome with its count.
    expect(await barsOf(page, 'outcomes')).toEqual(
      reports.map((report) => ({ label: report.runId, segments: report.outcomes })),
    );
    // Errors by class: one bar per run; the all-ok run's is empty.
    expect(await barsOf(page, 'failures')).toEqual(
      reports.map((report) => ({ label: report.runId, segments: report.failures })),
    );
    expect(await page.locator('svg#failures rect.segment').count()).toBe(
      reports.reduce((sum, report) => sum + Object.keys(report.failures).length, 0),
    );
    // Durations of the newest run: one bar per bucket, the buckets holding every recorded user.
    const buckets = await barsOf(page, 'durations');
    expect(buckets.map((bucket) => bucket.label)).toHaveLength(DURATION_BOUNDS_MS.length + 1);
    expect(buckets[0]?.label).toBe('≤ 100 ms');
    expect(buckets.at(-1)?.label).toBe('> 30 s');
    const counts = await Promise.all(
      (await page.locator('svg#durations g.bar').all()).map(async (group) =>
        Number(await group.getAttribute('data-count')),
      ),
    );
    expect(counts.reduce((a, b) => a + b, 0)).toBe(third.recorded);
    await expect
      .poll(() => page.getByRole('heading', { level: 2 }).allTextContents())
      .toEqual([
        'Outcomes per run',
        `Per-user duration, run ${third.runId}`,
        'Errors by class per run',
        'Runs',
      ]);
    expect(await page.locator('table#runs tbody tr').count()).toBe(3);

    // Drawn, not blank: the chart's screenshot shows every bar's colour over many pixels (a bar
    // is at least 24 px wide and, with counts up to 6 on the axis, some 30 px per user high).
    for (const chart of ['outcomes', 'durations', 'failures']) {
      const png = await page.locator(`svg#${chart}`).screenshot();
      expect(png.length).toBeGreaterThan(2000);
      const pixels = await pixelsIn(png);
      const fills = new Set<string>();
      for (const rect of await page.locator(`svg#${chart} rect.segment`).all())
        if (Number(await rect.getAttribute('height')) > 0)
          fills.add((await rect.getAttribute('fill')) ?? '');
      expect(fills.size).toBeGreaterThan(0);
      for (const fill of fills) expect(pixels[fill] ?? 0, `${chart} ${fill}`).toBeGreaterThan(200);
    }
    await page.screenshot({ path: path.join(dir, 'report.png'), fullPage: true });
    expect(requests).toHaveLength(1);
    await page.close();
  });

  it('says what is wrong with bad arguments or no runs, and writes nothing', async () => {
    const bad = await reportCli(['--html', path.join(dir, 'x.html'), '--runs', '0']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^usage: npm run report/);
    const missingDir = await reportCli(['--html', path.join(dir, 'no-such-dir', 'x.html')]);
    expect(missingDir).toMatchObject({ status: 1, stdout: '' });
    expect(missingDir.stderr).toBe(
      `cannot write ${path.join(dir, 'no-such-dir', 'x.html')}: ENOENT\n`,
    );
    const empty = await reportCli(
      ['--html', path.join(dir, 'empty.html')],
      `${harness.projectId}-empty`,
    );
    expect(empty).toMatchObject({ status: 1, stderr: 'no runs yet\n' });
    await expect(access(path.join(dir, 'empty.html'))).rejects.toThrow();
  });
});

// The HTML report page (infra/ops/report-html.ts) from hand-made reports: every text from the data
// is escaped, and the page carries its Content-Security-Policy and nothing that would load.
import { describe, expect, it } from 'vitest';
import { REPORT_CSP, renderReportPage } from '../../infra/ops/report-html.ts';
import type { RunReport } from '../../shared/runs/report.ts';

const HOSTILE = '"><script>alert(1)</script><img src=x onerror=alert(2)>';

function report(overrides: Partial<RunReport>): RunReport {
  return {
    runId: '2026-10-01_86400s',
    status: 'complete',
    scheduledAt: new Date('2026-10-01T03:00:00Z'),
    startedAt: new Date('2026-10-01T03:00:01Z'),
    endedAt: new Date('2026-10-01T03:00:09Z'),
    users: 3,
    batches: 1,
    recorded: 3,
    outcomes: { ok: 2, failed: 1 },
    failures: { transient: 1 },
    jobs: {},
    pending: 0,
    p50Ms: 120,
    p95Ms: 900,
    haltReason: undefined,
    repairs: [],
    ...overrides,
  };
}

describe('renderReportPage', () => {
  it('escapes run ids, reasons and keys, and loads nothing', () => {
    const html = renderReportPage(
      {
        reports: [
          report({
            runId: HOSTILE,
            status: 'halted',
            haltReason: HOSTILE,
            outcomes: { [HOSTILE]: 1 },
            failures: { [HOSTILE]: 1 },
          }),
        ],
        durations: [{ aboveMs: undefined, atMostMs: 100, users: 1 }],
      },
      new Date('2026-10-02T00:00:00Z'),
    );
    expect(html).not.toMatch(/<script|<img|onerror=alert\(2\)>/i);
    expect(html).toContain('&#34;&#62;&#60;script&#62;alert(1)&#60;/script&#62;');
    expect(html).toContain(
      `<meta http-equiv="Content-Security-Policy" content="${REPORT_CSP.replaceAll("'", '&#39;')}">`,
    );
    expect(html).not.toMatch(/\s(src|href)="/i);
  });

  it('draws one bar per run, oldest first, and one per duration bucket', () => {
    const html = renderReportPage(
      {
        reports: [report({ runId: '2026-10-02_86400s' }), report({ failures: {} })],
        durations: [
          { aboveMs: undefined, atMostMs: 100, users: 2 },
          { aboveMs: 100, atMostMs: undefined, users: 1 },
        ],
      },
      new Date(),
    );
    const runs = [...html.matchAll(/<g class="bar" data-run="([^"]+)"/g)].map((match) => match[1]);
    expect(runs).toEqual([
      '2026-10-01_86400s',
      '2026-10-02_86400s',
      '2026-10-01_86400s',
      '2026-10-02_86400s',
    ]);
    expect(html.match(/<g class="bar" data-bucket=/g)).toHaveLength(2);
    expect(html).toContain('data-bucket="&#62; 100 ms"');
  });
});

// The built-in jobs against the Google stand-in, through the same context a run gives them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import driveList from '../../shared/jobs/builtin/drive-list.ts';
import sheetsRead from '../../shared/jobs/builtin/sheets-read.ts';
import { classifyError } from '../../shared/retry/classify.ts';
import type { GoogleStandIn } from '../standin/index.ts';
import { consentedUser, runJob, startJobStandIn } from '../support/job-harness.ts';

let google: GoogleStandIn;
beforeAll(async () => {
  google = await startJobStandIn();
});
afterAll(() => google.close());

describe('sheets-read', () => {
  it('reads the range the user picked and counts rows and columns', async () => {
    const user = await consentedUser(google, { job: sheetsRead, email: 'reader@example.com' });
    const { spreadsheetId } = google.control.seedSpreadsheet({
      email: user.email,
      title: 'Plan',
      sheets: {
        Tasks: [
          ['task', 'owner', 'due'],
          ['write', 'ana', 'mon'],
          ['ship', 'bo'],
        ],
      },
    });
    const result = await runJob(google, sheetsRead, {
      user,
      settings: { spreadsheetId, range: 'Tasks!A1:C10' },
    });
    expect(result).toMatchObject({ effect: 'read', details: { rows: 3, columns: 3 } });
    expect(result.output).toMatchObject({
      values: [
        ['task', 'owner', 'due'],
        ['write', 'ana', 'mon'],
        ['ship', 'bo'],
      ],
    });
  });

  it("a token without a Sheets scope gets Google's insufficient-scope answer, classified as scope_missing", async () => {
    const user = await consentedUser(google, {
      job: sheetsRead,
      email: 'noscope@example.com',
      scopes: ['https://www.googleapis.com/auth/drive.metadata.readonly'],
    });
    const { spreadsheetId } = google.control.seedSpreadsheet({
      email: user.email,
      title: 'Secret',
      sheets: { Sheet1: [['x']] },
    });
    const error = await runJob(google, sheetsRead, { user, settings: { spreadsheetId } }).catch(
      (caught: unknown) => caught,
    );
    expect(classifyError(error)).toMatchObject({
      failure: 'scope_missing',
      reason: 'ACCESS_TOKEN_SCOPE_INSUFFICIENT',
    });
  });

  it('refuses settings without a spreadsheet id', async () => {
    const user = await consentedUser(google, { job: sheetsRead, email: 'nosettings@example.com' });
    await expect(runJob(google, sheetsRead, { user, settings: {} })).rejects.toThrow(
      /spreadsheetId/,
    );
  });
});

describe('drive-list', () => {
  it("lists the user's most recently modified files, at most `count`", async () => {
    const user = await consentedUser(google, { job: driveList, email: 'lister@example.com' });
    google.control.seedDriveFiles({
      email: user.email,
      files: [
        { name: 'old.txt', modifiedTime: '2026-01-01T00:00:00Z' },
        { name: 'new.txt', modifiedTime: '2026-11-30T00:00:00Z' },
        { name: 'mid.txt', modifiedTime: '2026-06-01T00:00:00Z' },
      ],
    });
    const result = await runJob(google, driveList, { user, settings: { count: 2 } });
    expect(result).toMatchObject({
      effect: 'listed',
      details: { files: 2, newest: '2026-11-30T00:00:00.000Z' },
    });
  });
});

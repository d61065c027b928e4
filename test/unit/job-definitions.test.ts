// A job declares itself once; declaring it wrongly stops loading with a message that says what
// to fix. The catalog refuses two jobs with one name, and JOBS naming a job that is not there.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { enabledJobs, jobCatalog, consentGaps } from '../../shared/jobs/catalog.ts';
import { defineJob, JobDefinitionError, type JobSpec } from '../../shared/jobs/define.ts';
import { manifestOf } from '../../shared/jobs/manifest.ts';
import { checkedResult } from '../../shared/runs/user/job-result.ts';
import { ConfigError, OperationError } from '../../shared/errors.ts';

const DRIVE_FILE = 'https://www.googleapis.com/auth/drive.file';
const base: JobSpec<undefined> = {
  name: 'probe',
  title: 'a probe',
  scopes: [DRIVE_FILE],
  run: () => Promise.resolve({ effect: 'ok' }),
};

describe('defineJob', () => {
  it('describes known scopes and adds their APIs', () => {
    const job = defineJob(base);
    expect(job.scopes).toEqual([
      expect.objectContaining({
        url: DRIVE_FILE,
        sensitivity: 'non-sensitive',
        api: 'drive.googleapis.com',
      }),
    ]);
    expect(job.apis).toEqual(['drive.googleapis.com']);
    // One call per API unless the job says otherwise.
    expect(job.calls).toEqual({ 'drive.googleapis.com': 1 });
    expect(defineJob({ ...base, calls: { 'drive.googleapis.com': 3 } }).calls).toEqual({
      'drive.googleapis.com': 3,
    });
    expect(job.schedule).toBe('daily');
  });

  it.each([
    [{ name: 'Not A Name' }, 'must be lower-case letters'],
    [{ title: '' }, 'title must be a short sentence'],
    [{ scopes: [] }, 'at least one Google scope'],
    [{ scopes: ['drive.file'] }, 'is not a URL'],
    [{ scopes: ['http://www.googleapis.com/auth/drive.file'] }, 'must be an https URL'],
    [{ scopes: ['https://example.com/auth/unknown'] }, 'declare it as { url, description }'],
    [{ schedule: 'monthly' as never }, 'schedule "monthly" must be one of hourly, daily, weekly'],
    [{ apis: ['sheets'] }, 'must be a service name'],
    [{ calls: { 'sheets.googleapis.com': 1 } }, 'which is not one of its apis'],
    [{ calls: { 'drive.googleapis.com': 1.5 } }, 'must be a whole number from 0 to 1000'],
    [{ calls: { 'drive.googleapis.com': -1 } }, 'must be a whole number from 0 to 1000'],
  ])('refuses %j', (change, message) => {
    expect(() => defineJob({ ...base, ...change })).toThrow(JobDefinitionError);
    expect(() => defineJob({ ...base, ...change })).toThrow(message);
  });

  it('takes a scope it does not know with a description', () => {
    const job = defineJob({
      ...base,
      scopes: [
        {
          url: 'https://www.googleapis.com/auth/photoslibrary.readonly',
          description: 'see your photos',
        },
      ],
    });
    expect(job.scopes[0]).toMatchObject({ description: 'see your photos', sensitivity: 'unknown' });
  });
});

describe('the catalog', () => {
  const one = { definition: defineJob(base), source: 'jobs/probe.ts' };
  it('refuses two jobs with one name, naming both files', () => {
    expect(() => jobCatalog([one, { ...one, source: 'jobs/probe-copy.ts' }])).toThrow(
      'two jobs are named "probe": jobs/probe.ts and jobs/probe-copy.ts',
    );
  });

  it('refuses JOBS naming an unknown job, naming the known ones', () => {
    expect(() => enabledJobs([one.definition], ['probe', 'mail-digest'])).toThrow(ConfigError);
    expect(() => enabledJobs([one.definition], ['mail-digest'])).toThrow(
      'JOBS: names an unknown job "mail-digest" (known: probe)',
    );
  });

  it('lists settings in the manifest, required or not, with their descriptions', () => {
    const withSettings = defineJob({
      name: 'probe',
      title: 'a probe',
      scopes: [DRIVE_FILE],
      run: () => Promise.resolve({ effect: 'ok' }),
      settings: z.object({
        spreadsheetId: z.string().describe('the sheet'),
        range: z.string().default('A1:B2'),
      }),
    });
    const [job] = manifestOf([{ definition: withSettings, source: 'x.ts' }]).jobs;
    expect(job?.settings).toEqual([
      { name: 'spreadsheetId', required: true, type: 'string', description: 'the sheet' },
      { name: 'range', required: false, type: 'string', description: null },
    ]);
  });

  it('counts the connections that lack each job’s scopes', () => {
    expect(consentGaps([one.definition], [[DRIVE_FILE], ['openid'], []])).toEqual({ probe: 2 });
    expect(consentGaps([one.definition], [[DRIVE_FILE]])).toEqual({});
  });
});

describe('job results', () => {
  it.each([
    [undefined, 'no result object'],
    [{ effect: '' }, 'an effect that is not a short word'],
    [{ effect: 'x'.repeat(65) }, 'an effect that is not a short word'],
    [{ effect: 'ok', details: [1] }, 'details that are not an object'],
    [{ effect: 'ok', details: { nested: { a: 1 } } }, 'details "nested"'],
    [{ effect: 'ok', details: { text: 'x'.repeat(201) } }, 'details "text"'],
    [{ effect: 'ok', details: { n: Number.NaN } }, 'details "n"'],
    [{ effect: 'ok', remember: 'folder' }, 'remember that are not an object'],
    [{ effect: 'ok', remember: { folder: { id: 'x' } } }, 'remember "folder"'],
  ])('refuses %j', (value, message) => {
    expect(() => checkedResult('probe', value)).toThrow(OperationError);
    expect(() => checkedResult('probe', value)).toThrow(message);
  });

  it('keeps a well-formed result', () => {
    expect(
      checkedResult('probe', {
        effect: 'read',
        details: { rows: 3, ok: true },
        remember: { folderId: 'f1' },
      }),
    ).toEqual({
      effect: 'read',
      details: { rows: 3, ok: true },
      remember: { folderId: 'f1' },
      output: undefined,
    });
  });
});

import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findLeaks } from './scan.ts';

const dir = process.env.CV_CAPTURE_DIR;

describe('log output of the whole suite', () => {
  it('contains no token, code or secret the stand-ins issued', async () => {
    expect(dir, 'run through npm test').toBeTruthy();
    const files = await readdir(dir!);
    const outputs = new Map<string, string>();
    const secrets: string[] = [];
    for (const name of files) {
      const text = await readFile(path.join(dir!, name), 'utf8');
      if (name.startsWith('logs-')) outputs.set(name, text);
      if (name.startsWith('secrets-')) secrets.push(...text.split('\n').filter(Boolean));
    }
    // The scan must have something to scan, or it proves nothing.
    expect(outputs.size).toBeGreaterThan(0);
    expect([...outputs.values()].join('').length).toBeGreaterThan(10_000);
    expect(secrets.length).toBeGreaterThan(50);
    expect(findLeaks(outputs, secrets)).toEqual([]);
  });
});

// What a log line costs grows at most linearly with what it is given, and is bounded: a request
// cannot buy CPU with an adversarial path or parameter (shared/log.ts: TOKEN_PATTERN, MAX_TEXT).
// Times are CPU time of the process, compared as ratios between sizes measured here: a
// backtracking pattern's cost per character grows with the length, a linear one's does not.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createLogger, maskTokenShapes, MAX_TEXT } from '../../shared/log.ts';

/** Pieces of token shapes and what surrounds them: what backtracking patterns choke on. */
const PIECES = [
  'eyJ',
  'eyJa',
  'ey',
  '.',
  '-',
  '_',
  '/',
  '%',
  '1//',
  '1/',
  'ya29.',
  'ya29',
  '4/0',
  '4/',
  '4%2F0',
  '4%2F',
  'a',
  '0',
  ' ',
  '=',
  '&',
  '"',
  '\\',
  'é',
  '\u{1F600}',
];
const adversarialUnit = fc
  .array(fc.constantFrom(...PIECES), { minLength: 1, maxLength: 8 })
  .map((pieces) => pieces.join(''));
/** Known worst cases of the patterns this file guards against, always tried first. */
const WORST = [['eyJ'], ['eyJ-'], ['eyJa.'], ['ya29.'], ['4%2F0%'], ['eyJ1/']];

/** Per-character cost may grow this much from the smallest size to the largest. */
const GROWTH = 4;

function textOf(unit: string, length: number): string {
  return unit.repeat(Math.ceil(length / unit.length)).slice(0, length);
}

// process.cpuUsage counts to the microsecond; threadCpuUsage moves in steps of about a millisecond.
function cpuMicros(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return used.user + used.system;
}

/**
 * CPU per character of `text`: calls repeated for at least 3 ms, the least of seven samples.
 * Interference (another test process, a collection of the large strings) only ever adds time,
 * so the least sample is the steadiest on a loaded machine; the median of five still varied by
 * 6x in a full parallel suite run.
 */
function cpuPerChar(run: (text: string) => unknown, text: string): number {
  run(text); // compiled and warm before it is measured
  const samples: number[] = [];
  for (let sample = 0; sample < 7; sample += 1) {
    const start = process.cpuUsage();
    let calls = 0;
    do {
      run(text);
      calls += 1;
    } while (cpuMicros(start) < 3000);
    samples.push(cpuMicros(start) / calls / text.length);
  }
  return Math.min(...samples);
}

/**
 * The cost per character at each larger size stays within GROWTH of the smallest size's (a
 * quadratic cost grows by the size ratio, 16 or more here). Stops at the first size that fails.
 */
function expectLinear(run: (text: string) => unknown, unit: string, sizes: number[]): void {
  const base = cpuPerChar(run, textOf(unit, sizes[0]!));
  for (const size of sizes.slice(1)) {
    const growth = cpuPerChar(run, textOf(unit, size)) / base;
    expect(growth, `${JSON.stringify(unit)} at ${size} characters`).toBeLessThan(GROWTH);
  }
}

describe('log cost', () => {
  it('masking token shapes is linear in the text length (no cut): 2 KiB → 32 KiB', () => {
    fc.assert(
      fc.property(adversarialUnit, (unit) => {
        expectLinear((text) => maskTokenShapes(text), unit, [2048, 8192, 32768]);
      }),
      { numRuns: 20, examples: WORST, endOnFailure: true },
    );
  });

  it('a log line costs at most linear time in its fields, up to 1 MB, and stays bounded', () => {
    let longest = 0;
    const log = createLogger({
      sink: (line) => {
        longest = Math.max(longest, line.length);
      },
    });
    const logPath = (path: string) => {
      log.warn(`The parameter "state" is too long: ${path}`, { path, status: 400 });
    };
    fc.assert(
      fc.property(adversarialUnit, (unit) => {
        expectLinear(logPath, unit, [16 * 1024, 128 * 1024, 1024 * 1024]);
      }),
      { numRuns: 10, examples: WORST, endOnFailure: true },
    );
    // Two cut strings (at most twice as long once JSON escapes '"' and '\\') and the rest.
    expect(longest).toBeLessThan(2 * 2 * MAX_TEXT + 300);
  });
});

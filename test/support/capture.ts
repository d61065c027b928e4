// Collects what the post-suite checks need (test/log-scan): every log line the suite's code
// wrote, every secret the stand-ins issued, and every Firestore project it wrote to. Each vitest worker appends to its own files in
// CV_CAPTURE_DIR (set by test/support/run-tests.ts); without it, nothing is recorded.
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { LogSink } from '../../shared/log.ts';

const dir = process.env.CV_CAPTURE_DIR;
if (dir) mkdirSync(dir, { recursive: true });

function file(kind: 'logs' | 'secrets' | 'projects'): string | undefined {
  return dir ? path.join(dir, `${kind}-${process.pid}.txt`) : undefined;
}

/** Records raw output (log lines, child-process output) for the scan. */
export function recordOutput(text: string): void {
  const target = file('logs');
  if (target) appendFileSync(target, text.endsWith('\n') ? text : `${text}\n`);
}

/** A log sink that records every line and hands it to `also`. */
export function captureSink(also: (line: string) => void = () => {}): LogSink {
  return (line) => {
    recordOutput(line);
    also(line);
  };
}

export function recordIssuedSecrets(secrets: readonly string[]): void {
  const target = file('secrets');
  if (target && secrets.length > 0) appendFileSync(target, `${secrets.join('\n')}\n`);
}

/** A Firestore emulator project the suite wrote to (the TTL check walks each one). */
export function recordFirestoreProject(projectId: string): void {
  const target = file('projects');
  if (target) appendFileSync(target, `${projectId}\n`);
}

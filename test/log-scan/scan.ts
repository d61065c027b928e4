// The leak scanner: finds any issued secret (or a prefix of it long enough to be useful to an
// attacker) in captured output.
export interface Leak {
  readonly file: string;
  readonly secretPreview: string;
}

/** Secrets shorter than this are skipped (too short to be a token and prone to false hits). */
const MIN_SECRET_LENGTH = 12;

export function findLeaks(outputs: ReadonlyMap<string, string>, secrets: Iterable<string>): Leak[] {
  const leaks: Leak[] = [];
  for (const secret of new Set(secrets)) {
    if (secret.length < MIN_SECRET_LENGTH) continue;
    // Codes travel percent-encoded in URLs: look for both forms.
    const forms = new Set([secret, encodeURIComponent(secret)]);
    for (const [file, text] of outputs)
      for (const form of forms)
        if (text.includes(form)) leaks.push({ file, secretPreview: `${secret.slice(0, 6)}…` });
  }
  return leaks;
}

// The commands cloudbuild.yaml runs, as Cloud Build would run them: its substitutions applied to
// the step arguments, then a `bash -c` script split into commands and words as bash would.
// Reads only the part of YAML that the file uses and throws on anything else, so that a change of
// the file's shape fails the test instead of going unchecked.
// Substitutions: https://cloud.google.com/build/docs/configuring-builds/substitute-variable-values

export interface BuildStep {
  readonly id: string;
  readonly entrypoint: string | undefined;
  readonly args: readonly string[];
}

export interface BuildConfig {
  /** Comment lines before the first key (the file's own usage notes), without the `#`. */
  readonly header: readonly string[];
  readonly substitutions: Readonly<Record<string, string>>;
  readonly steps: readonly BuildStep[];
}

export function readBuildConfig(text: string): BuildConfig {
  const lines = text.split('\n');
  const header: string[] = [];
  const substitutions: Record<string, string> = {};
  const steps: { id: string; entrypoint: string | undefined; args: string[] }[] = [];
  let section = '';
  let i = 0;
  const fail = (why: string): never => {
    throw new Error(`cloudbuild.yaml line ${i + 1}: ${why}: ${lines[i] ?? ''}`);
  };
  for (; i < lines.length; i++) {
    const raw = lines[i] ?? '';
    if (section === '' && raw.startsWith('#')) header.push(raw.replace(/^# ?/, ''));
    const line = stripComment(raw);
    if (line.trim() === '') continue;
    const indent = line.length - line.trimStart().length;
    if (indent === 0) {
      const top = /^([\w-]+):\s*(.*)$/.exec(line) ?? fail('expected a top-level key');
      section = top[1] ?? '';
      continue;
    }
    if (section === 'substitutions') {
      const entry = /^ {2}(\w+):\s*(.+)$/.exec(line) ?? fail('expected KEY: value');
      substitutions[entry[1] ?? ''] = scalar(entry[2] ?? '');
    } else if (section === 'steps') {
      const item = /^ {2}(- | {2})([\w-]+):\s*(.*)$/.exec(line) ?? fail('expected a step key');
      if (item[1] === '- ') steps.push({ id: '', entrypoint: undefined, args: [] });
      const step = steps.at(-1) ?? fail('a step key outside a step');
      const [, , key = '', value = ''] = item;
      if (key === 'id') step.id = scalar(value);
      else if (key === 'entrypoint') step.entrypoint = scalar(value);
      else if (key === 'args' && value.startsWith('[')) step.args.push(...flowSequence(value));
      else if (key === 'args' && value === '') i = blockSequence(lines, i + 1, step.args) - 1;
      else if (key === 'args') fail('args must be a sequence');
    }
    // Other sections (options, timeout, …) hold nothing that runs a command.
  }
  return { header, substitutions, steps };
}

/** Reads `- item` lines (plain or quoted scalars, or `|` literal blocks); returns the next line. */
function blockSequence(lines: readonly string[], start: number, into: string[]): number {
  let i = start;
  let itemIndent: number | undefined;
  while (i < lines.length) {
    const line = stripComment(lines[i] ?? '');
    const item = /^( +)- (.*)$/.exec(line);
    const indent = (item?.[1] ?? '').length;
    if (!item || indent !== (itemIndent ??= indent)) break;
    if (item[2] !== '|') {
      into.push(scalar(item[2] ?? ''));
      i++;
      continue;
    }
    // A literal block: every following line indented deeper than the dash, that indent removed.
    const body: string[] = [];
    let blockIndent: number | undefined;
    for (i++; i < lines.length; i++) {
      const text = lines[i] ?? '';
      const depth = text.length - text.trimStart().length;
      if (text.trim() !== '' && depth <= indent) break;
      blockIndent ??= text.trim() === '' ? undefined : depth;
      body.push(text.slice(blockIndent ?? 0));
    }
    into.push(`${body.join('\n').replace(/\n+$/, '')}\n`);
  }
  return i;
}

function flowSequence(text: string): string[] {
  const inner = /^\[(.*)\]$/.exec(text.trim())?.[1];
  if (inner === undefined) throw new Error(`unsupported flow sequence: ${text}`);
  const items = inner.match(/'(?:[^']|'')*'|"(?:[^"\\]|\\.)*"|[^,]+/g) ?? [];
  return items
    .map((item) => item.trim())
    .filter((item) => item !== '')
    .map(scalar);
}

function scalar(text: string): string {
  const value = text.trim();
  if (value.startsWith("'") && value.endsWith("'") && value.length >= 2)
    return value.slice(1, -1).replace(/''/g, "'");
  if (value.startsWith('"')) return JSON.parse(value) as string;
  if (/^[|>&*!%@`[{]/.test(value)) throw new Error(`unsupported YAML value: ${value}`);
  return value;
}

/** Drops a `#` comment that is not inside quotes. */
function stripComment(line: string): string {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1] ?? ''))) return line.slice(0, i);
  }
  return line;
}

/** Cloud Build's `$VAR`, `${VAR}` and `$$`; a variable it does not know fails, as MUST_MATCH does. */
export function substitute(text: string, values: Readonly<Record<string, string>>): string {
  return text.replace(
    /\$(\$|\{(\w+)\}|(\w+))/g,
    (match, escaped: string, braced?: string, bare?: string) => {
      if (escaped === '$') return '$';
      const name = braced ?? bare ?? '';
      const value = values[name];
      if (value === undefined) throw new Error(`cloudbuild.yaml: unknown substitution ${match}`);
      return value;
    },
  );
}

export interface ShellCommand {
  readonly words: readonly string[];
  /** A word holds an unquoted `$`, a backtick or a redirection: bash would change it. */
  readonly unmodelled: boolean;
}

/**
 * Splits a script into simple commands (at newlines, `;`, `&&`, `||`, `|`) and words, with
 * bash's quoting: '…' literal, "…" with backslash escapes, backslash-newline joining lines.
 */
export function shellCommands(script: string): ShellCommand[] {
  const commands: ShellCommand[] = [];
  let words: string[] = [];
  let word: string | undefined;
  let unmodelled = false;
  const endWord = (): void => {
    if (word !== undefined) words.push(word);
    word = undefined;
  };
  const endCommand = (): void => {
    endWord();
    if (words.length > 0) commands.push({ words, unmodelled });
    words = [];
    unmodelled = false;
  };
  for (let i = 0; i < script.length; i++) {
    const c = script[i] ?? '';
    if (c === '\\') {
      i++;
      if (script[i] !== '\n') word = (word ?? '') + (script[i] ?? '');
    } else if (c === "'") {
      const end = script.indexOf("'", i + 1);
      if (end === -1) throw new Error('unterminated single quote in a build script');
      word = (word ?? '') + script.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let text = '';
      for (i++; i < script.length && script[i] !== '"'; i++) {
        const d = script[i] ?? '';
        if (d === '\\' && /["\\$`\n]/.test(script[i + 1] ?? '')) {
          i++;
          if (script[i] !== '\n') text += script[i] ?? '';
        } else {
          if (d === '$' || d === '`') unmodelled = true;
          text += d;
        }
      }
      if (i >= script.length) throw new Error('unterminated double quote in a build script');
      word = (word ?? '') + text;
    } else if (c === '#' && word === undefined) {
      while (i + 1 < script.length && script[i + 1] !== '\n') i++;
    } else if (c === '\n' || c === ';' || c === '&' || c === '|') {
      endCommand();
      if ((c === '&' || c === '|') && script[i + 1] === c) i++;
    } else if (c === ' ' || c === '\t') {
      endWord();
    } else {
      if (c === '$' || c === '`' || c === '>' || c === '<') unmodelled = true;
      word = (word ?? '') + c;
    }
  }
  endCommand();
  return commands;
}

/** The commands a step runs, its arguments substituted. */
export function stepCommands(
  step: BuildStep,
  values: Readonly<Record<string, string>>,
): ShellCommand[] {
  const args = step.args.map((arg) => substitute(arg, values));
  if (step.entrypoint === 'bash' || step.entrypoint === 'sh') {
    const script = args[args.indexOf('-c') + 1];
    if (!args.includes('-c') || script === undefined)
      throw new Error(`step ${step.id}: a shell entrypoint without -c SCRIPT`);
    return shellCommands(script);
  }
  if (step.entrypoint === undefined)
    throw new Error(`step ${step.id}: no entrypoint (the image's default is not known here)`);
  return [{ words: [step.entrypoint, ...args], unmodelled: false }];
}

// docs/configuration.md and infra/deploy/deploy.example.env, rendered from the settings schema
// (shared/settings/schema.ts). Pure: `npm run docs:settings` writes what these return, and
// test/unit/settings-schema.test.ts fails when the committed files differ from it, so neither
// can drift from the table loadConfig parses.
import { FUNCTION_NAMES, type FunctionName } from '../../shared/settings/functions.ts';
import {
  SETTING_GROUPS,
  SETTING_SPECS,
  variablesOf,
  type SettingGroup,
  type SettingSpec,
} from '../../shared/settings/schema.ts';

export interface GeneratedFile {
  /** Relative to the repository root. */
  readonly path: string;
  render(): string;
}

export const GENERATED_FILES: readonly GeneratedFile[] = [
  { path: 'docs/configuration.md', render: renderConfigurationDoc },
  { path: 'infra/deploy/deploy.example.env', render: renderExampleEnv },
];

const SOURCE = 'shared/settings/schema.ts';
const COMMAND = 'npm run docs:settings';

const GROUPS: Readonly<Record<SettingGroup, { readonly title: string; readonly intro: string }>> = {
  project: {
    title: 'Project, OAuth client and secrets',
    intro:
      'The deploy creates both secrets in Secret Manager (the keyset is generated) and gives ' +
      'each function only the ones it needs.',
  },
  urls: {
    title: 'Public URLs and callers',
    intro:
      'authorize and callback must share a host: the transaction cookie is a `__Host-` cookie. ' +
      'With a custom domain, put both behind it and set the three function URLs.',
  },
  app: { title: 'Pages, jobs and logs', intro: 'What users see and what runs for them.' },
  runs: {
    title: 'Scheduled runs',
    intro: 'The dispatcher pages through connections; workers process the batches.',
  },
  topics: {
    title: 'Pub/Sub topics',
    intro: 'The deploy creates these topics and the dead-letter subscription.',
  },
  google: {
    title: 'Google endpoints',
    intro:
      "Leave them unset in production. Locally they point at the Google stand-in's " +
      '(`test/standin/`), which is how nothing in the tests talks to Google.',
  },
  local: {
    title: 'Local runs and tests only',
    intro: 'The deploy refuses these in the env file: never set them on a deployed function.',
  },
};

function inGroup(group: SettingGroup): readonly SettingSpec[] {
  return SETTING_SPECS.filter((spec) => spec.group === group);
}

function functionList(names: readonly FunctionName[]): string {
  return names.length === FUNCTION_NAMES.length ? 'every function' : names.join(', ');
}

function format(spec: SettingSpec): string {
  switch (spec.kind) {
    case 'text': {
      const parts = ['text'];
      if (spec.pattern) parts.push(`matching \`${spec.pattern.source}\``);
      if (spec.maxLength !== undefined) parts.push(`of at most ${spec.maxLength} characters`);
      return parts.join(' ');
    }
    case 'url':
      return 'an absolute URL';
    case 'url-list':
      return 'comma-separated absolute URLs';
    case 'list': {
      const known = spec.known
        ? `; known ${spec.known.noun}s: ${spec.known.values.map((v) => `\`${v}\``).join(', ')}`
        : '';
      return `comma-separated, each matching \`${spec.item.source}\`${known}`;
    }
    case 'integer':
      return `a whole number from ${spec.min} to ${spec.max}`;
    case 'boolean':
      return '`true` or `false`';
    case 'one-of':
      return `one of ${spec.values.map((v) => `\`${v}\``).join(', ')}`;
    case 'host-port':
      return '`host:port`';
    case 'secret': {
      const [value, version, file] = variablesOf(spec).map((name) => `\`${name}\``);
      return `from exactly one of ${value}, ${version} or ${file}`;
    }
  }
}

function presence(spec: SettingSpec): string {
  if (spec.kind === 'secret') return `required by ${functionList(spec.functions)}`;
  if (spec.required === true)
    return spec.deployDefault === undefined || spec.setBy === 'deploy'
      ? 'required'
      : `required; the deploy sets ${spec.deployDefault} when the env file does not`;
  if (spec.default !== undefined) return `default \`${spec.default}\``;
  if (spec.derivedDefault !== undefined) return `default ${spec.derivedDefault}`;
  return 'unset by default';
}

function provenance(spec: SettingSpec): string {
  if (spec.kind === 'secret')
    return (
      `secret: the deploy keeps it in Secret Manager as \`${spec.secretId}\` and sets it with ` +
      '`--set-secrets` on these functions only'
    );
  const used =
    spec.functions.length === 0
      ? 'read by the deploy, not by the functions'
      : `used by ${functionList(spec.functions)}`;
  const setBy = {
    operator: 'set in the deploy env file',
    deploy: `set by the deploy${spec.deployDefault === undefined ? '' : ` to ${spec.deployDefault}`}`,
    local: 'local runs only',
  }[spec.setBy];
  return `${used}; ${setBy}`;
}

/** Greedy word wrap, so that no generated line runs far past the page. */
function wrap(text: string, first = '', rest = first, width = WIDTH): string[] {
  const lines: string[] = [];
  let line = first;
  for (const word of text.split(' ')) {
    const prefix = lines.length === 0 ? first : rest;
    if (line.length > prefix.length && line.length + 1 + word.length > width) {
      lines.push(line);
      line = rest + word;
    } else line = line.length > prefix.length ? `${line} ${word}` : `${line}${word}`;
  }
  lines.push(line);
  return lines;
}

const WIDTH = 100;

// Prose paragraphs, one string each: wrap() breaks them into lines.
const INTRO =
  `Settings are environment variables, declared once in \`${SOURCE}\`. Each function reads ` +
  'them once at start-up with `loadConfig` (`shared/settings/config.ts`), which validates all ' +
  'of them and stops the instance with one message naming every missing or malformed setting. ' +
  'Nothing else reads `process.env`.';

const RULES = [
  '**Every function validates every setting but the secrets**: the deploy sets one environment ' +
    'on all five. "Used by" names the functions whose code reads it.',
  '**URLs** are absolute, without a `#fragment`, and `https` except on this machine ' +
    '(`localhost`, `127.0.0.1`, `[::1]`). Lists are comma-separated.',
  '**Secrets** are never in the env file, code, Firestore or logs. A function that needs one ' +
    'reads it from exactly one of `NAME` (the value, which the deploy fills with ' +
    '`--set-secrets`), `NAME_VERSION` (a Secret Manager version ' +
    '`projects/P/secrets/S/versions/N`, read once per instance) or `NAME_FILE` (a local file, ' +
    'for development); a function that does not need it may run without.',
  '**Set by**: the operator in the deploy env file (`infra/deploy.env`, copied from ' +
    '`infra/deploy/deploy.example.env`), the deploy itself, or local runs only. The deploy ' +
    "refuses every setting that is not the operator's, and anything that looks like a secret.",
];

export function renderConfigurationDoc(): string {
  const lines = [
    `<!-- Generated from ${SOURCE} (${COMMAND}): edit the schema, not this file. -->`,
    '',
    '# Configuration',
    '',
    ...wrap(INTRO),
    '',
    ...RULES.flatMap((rule) => wrap(rule, '- ', '  ')),
    '',
  ];
  for (const group of SETTING_GROUPS) {
    const { title, intro } = GROUPS[group];
    lines.push(`## ${title}`, '', ...wrap(intro), '');
    for (const spec of inGroup(group))
      lines.push(
        ...wrap(`**\`${spec.name}\`**: ${spec.doc}`, '- ', '  '),
        ...wrap(`${presence(spec)}; ${format(spec)}`, '  - ', '    '),
        ...wrap(provenance(spec), '  - ', '    '),
      );
    lines.push('');
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

/** Markdown code spans and emphasis read as noise in a shell-style comment. */
function plain(text: string): string {
  return text.replaceAll('`', '');
}

function exampleLines(spec: SettingSpec): string[] {
  const lines = wrap(plain(spec.doc), '# ');
  if (spec.deployDefault !== undefined)
    lines.push(...wrap(`Unset: the deploy sets ${plain(spec.deployDefault)}.`, '# '));
  else if (spec.derivedDefault !== undefined)
    lines.push(...wrap(`Unset: ${plain(spec.derivedDefault)}.`, '# '));
  const value = spec.example ?? spec.default ?? '';
  // Only what the deploy needs from the operator is left uncommented.
  const needed = spec.required === true && spec.deployDefault === undefined;
  lines.push(`${needed ? '' : '# '}${spec.name}=${value}`);
  return lines;
}

const ENV_HEADER = [
  'consent-vault deploy settings: copy to infra/deploy.env and fill in.',
  `Generated from ${SOURCE} by \`${COMMAND}\`; docs/configuration.md explains every setting.`,
  'The deploy sets each of them on every function; a commented line shows the default.',
  'NO SECRETS HERE: the OAuth client secret and the token keyset live in Secret Manager and ' +
    'reach the functions through --set-secrets. The deploy refuses secret keys, the settings it ' +
    'sets itself (GOOGLE_CLOUD_PROJECT, from --project) and the local-only ones.',
];

export function renderExampleEnv(): string {
  const lines = ENV_HEADER.flatMap((paragraph) => wrap(paragraph, '# '));
  for (const group of SETTING_GROUPS) {
    const specs = inGroup(group).filter((spec) => spec.setBy === 'operator');
    if (specs.length === 0) continue;
    lines.push('', `## ${GROUPS[group].title}`);
    for (const spec of specs) lines.push('', ...exampleLines(spec));
  }
  return `${lines.join('\n')}\n`;
}

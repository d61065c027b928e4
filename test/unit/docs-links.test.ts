// Documentation that leads somewhere: every relative link in the repository's Markdown resolves
// to a file (and a `#anchor` into a Markdown file to one of its headings, GitHub-style); every
// document a code comment cites (`docs/….md#section`, `README.md`) exists; and no file refers to
// reference notes that live outside the repository, to an absolute path of one machine, or to a
// relative path that climbs out of the repository. Pure file reads: no emulator, no network.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SELF = 'test/unit/docs-links.test.ts';

/** What the checks need to know about a tree of files (the real one, or a test fixture). */
interface Tree {
  /** Repository-relative paths (forward slashes) of the files to check. */
  readonly files: readonly string[];
  read(file: string): string;
  /** A file or a directory at this repository-relative path. */
  exists(file: string): boolean;
  /** The absolute path of the tree's root, which no file may mention. */
  readonly root: string;
}

/** Reference notes that live outside the repository: never cited by name. */
const OUTSIDE_NOTES = /\b(?:google-oauth-facts|platform-facts|style-by-example)\.md\b/g;
/** An absolute path on the machine this was written on. */
const MACHINE_PATH = /(?<![\w.-])\/work\//g;
/** A relative path that starts by climbing (`../x`): it must lead to a file of the repository. */
const CLIMBING_PATH = /(?<![\w./-])((?:\.\.\/)+)([\w@.-][\w@./-]*)/g;
/** A Markdown document named in code: `docs/x.md#section`, `test/standin/README.md`, `README.md`. */
const CITED_DOCUMENT = /(?<![\w./-])((?:[\w.-]+\/)*[\w.-]+\.md)(#[\w-]+)?/g;

const MARKDOWN = /\.md$/;
const CODE = /\.(?:ts|mjs|cjs|js|yaml|yml|env|rules)$|^\.ci\//;
const SCANNED = /\.(?:ts|mjs|md|yaml|yml)$/;

function lineOf(text: string, index: number): number {
  return text.slice(0, index).split('\n').length;
}

/** GitHub's heading anchor: lower case, punctuation dropped, every space a hyphen. */
function githubSlug(heading: string): string {
  const text = heading
    .replace(/!\[[^\]]*\]\([^)]*\)/g, '')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
}

/** The text of a Markdown file outside fenced code blocks (fences keep their line, blanked). */
function withoutFences(markdown: string): string[] {
  let fence: string | undefined;
  return markdown.split('\n').map((line) => {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence !== undefined) {
      if (marker !== undefined && marker[0] === fence[0] && marker.length >= fence.length)
        fence = undefined;
      return '';
    }
    if (marker !== undefined) {
      fence = marker;
      return '';
    }
    return line;
  });
}

/** Every anchor a Markdown file offers: its headings (duplicates get -1, -2…) and `id`s. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of withoutFences(markdown)) {
    const heading = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading !== undefined) {
      const slug = githubSlug(heading);
      const count = seen.get(slug) ?? 0;
      seen.set(slug, count + 1);
      anchors.add(count === 0 ? slug : `${slug}-${count}`);
    }
    for (const match of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(match[1]!);
  }
  return anchors;
}

/** Relative link targets of a Markdown file (inline and reference links), outside code. */
function markdownLinks(markdown: string): { target: string; line: number }[] {
  const links: { target: string; line: number }[] = [];
  withoutFences(markdown).forEach((raw, index) => {
    const line = raw.replace(/`[^`]*`/g, '');
    const targets = [
      ...[...line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!),
      ...[...line.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/g)].map((m) => m[1]!),
    ];
    for (const target of targets)
      if (!/^[a-z][a-z0-9+.-]*:/i.test(target)) links.push({ target, line: index + 1 });
  });
  return links;
}

/** `docs/x.md` from `docs/y.md`, or `../README.md` from `docs/y.md`: the repository path. */
function resolveFrom(file: string, target: string): string {
  return path.posix.normalize(path.posix.join(path.posix.dirname(file), target));
}

function isInside(relative: string): boolean {
  return relative !== '..' && !relative.startsWith('../') && !path.posix.isAbsolute(relative);
}

/** Problems with a reference to `document` (with an optional `#anchor`), as `where: what`. */
function checkTarget(
  tree: Tree,
  where: string,
  document: string,
  anchor: string | undefined,
): string[] {
  if (!isInside(document)) return [`${where}: ${document} is outside the repository`];
  if (document !== '' && !tree.exists(document)) return [`${where}: ${document} does not exist`];
  if (anchor === undefined || anchor === '' || !MARKDOWN.test(document)) return [];
  const anchors = anchorsOf(tree.read(document));
  return anchors.has(decodeURIComponent(anchor).toLowerCase())
    ? []
    : [`${where}: ${document} has no heading for #${anchor}`];
}

/** Relative links of every Markdown file that lead nowhere. */
function brokenLinks(tree: Tree): string[] {
  const problems: string[] = [];
  for (const file of tree.files.filter((name) => MARKDOWN.test(name))) {
    for (const { target, line } of markdownLinks(tree.read(file))) {
      const [pathPart = '', anchor] = target.split('#', 2);
      const document = pathPart === '' ? file : resolveFrom(file, decodeURI(pathPart));
      problems.push(...checkTarget(tree, `${file}:${line} (${target})`, document, anchor));
    }
  }
  return problems;
}

/** Mentions of notes outside the repository, machine paths and paths that climb out of it. */
function outsideReferences(tree: Tree): string[] {
  const problems: string[] = [];
  for (const file of tree.files.filter((name) => SCANNED.test(name) && name !== SELF)) {
    const text = tree.read(file);
    const report = (index: number, what: string) =>
      problems.push(`${file}:${lineOf(text, index)}: ${what}`);
    for (const match of text.matchAll(OUTSIDE_NOTES))
      report(match.index, `names ${match[0]}, which is not in the repository`);
    for (const match of text.matchAll(MACHINE_PATH))
      report(match.index, 'an absolute path of one machine');
    const checkout = `${tree.root}/`;
    for (let at = text.indexOf(checkout); at !== -1; at = text.indexOf(checkout, at + 1))
      report(at, `the absolute path of this checkout (${tree.root})`);
    for (const match of text.matchAll(CLIMBING_PATH)) {
      const climbed = `${match[1]!}${match[2]!.replace(/[.,:;]+$/, '')}`;
      const target = resolveFrom(file, climbed);
      if (!isInside(target)) report(match.index, `${climbed} leaves the repository`);
      // A file name or a folder (`../x.md`, `../notes/`), not a test's `../x` input.
      else if (/\.\w+$|\/$/.test(climbed) && !tree.exists(target))
        report(match.index, `${climbed} leads to no file here`);
    }
  }
  return problems;
}

/** Markdown documents cited in code that do not exist (or lack the cited section). */
function brokenCitations(tree: Tree): string[] {
  const problems: string[] = [];
  for (const file of tree.files.filter((name) => CODE.test(name) && name !== SELF)) {
    const text = tree.read(file);
    for (const match of text.matchAll(CITED_DOCUMENT)) {
      const cited = match[1]!;
      // `./x.md` and `../x.md` are relative to the citing file; other paths are cited from the
      // repository root (`docs/jobs.md`) or, failing that, from next to the file (`README.md`).
      const nextToFile = resolveFrom(file, cited);
      const document =
        /^\.\.?\//.test(cited) || (!tree.exists(cited) && tree.exists(nextToFile))
          ? nextToFile
          : cited;
      const anchor = match[2]?.slice(1);
      problems.push(
        ...checkTarget(
          tree,
          `${file}:${lineOf(text, match.index)} (${match[0]})`,
          document,
          anchor,
        ),
      );
    }
  }
  return problems;
}

/** Files git knows (tracked, or new and not ignored); a plain walk where there is no git. */
function repositoryFiles(): string[] {
  try {
    const listed = execFileSync(
      'git',
      ['ls-files', '-z', '--cached', '--others', '--exclude-standard'],
      { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    );
    return [...new Set(listed.split('\0').filter(Boolean))]
      .filter((file) => existsSync(path.join(root, file)))
      .sort();
  } catch {
    const skipped = new Set(['.git', 'node_modules', 'dist', 'coverage', '.local']);
    const walk = (dir: string): string[] =>
      readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((entry) => {
        const relative = dir === '' ? entry.name : `${dir}/${entry.name}`;
        if (entry.isDirectory()) return skipped.has(entry.name) ? [] : walk(relative);
        return entry.isFile() ? [relative] : [];
      });
    return walk('').sort();
  }
}

function diskTree(): Tree {
  const cache = new Map<string, string>();
  return {
    files: repositoryFiles(),
    root,
    read(file) {
      let text = cache.get(file);
      if (text === undefined) {
        text = statSync(path.join(root, file)).isFile()
          ? readFileSync(path.join(root, file), 'utf8')
          : '';
        cache.set(file, text);
      }
      return text;
    },
    exists: (file) => existsSync(path.join(root, file)),
  };
}

function fixtureTree(files: Record<string, string>): Tree {
  const dirs = new Set(
    Object.keys(files).flatMap((file) =>
      file
        .split('/')
        .slice(0, -1)
        .map((_, i, parts) => parts.slice(0, i + 1).join('/')),
    ),
  );
  return {
    files: Object.keys(files),
    root: '/checkout/of/repo',
    read: (file) => files[file] ?? '',
    exists: (file) =>
      file in files || dirs.has(file.replace(/\/$/, '')) || file === '.' || file === '',
  };
}

describe('GitHub heading anchors', () => {
  it.each([
    ['Scheduling and fan-out', 'scheduling-and-fan-out'],
    ['Unsubscribing (revoke)', 'unsubscribing-revoke'],
    ['OAuth 2.0', 'oauth-20'],
    ['The built-in `drive-export` job', 'the-built-in-drive-export-job'],
    ['First connection and prompt=consent', 'first-connection-and-promptconsent'],
    ['[Linked](x.md) heading', 'linked-heading'],
    ['snake_case stays', 'snake_case-stays'],
  ])('%s → #%s', (heading, slug) => {
    expect(githubSlug(heading)).toBe(slug);
  });

  it('numbers repeated headings and ignores headings in code blocks', () => {
    const anchors = anchorsOf('# A\n## Notes\n```sh\n# not a heading\n```\n## Notes\n');
    expect([...anchors]).toEqual(['a', 'notes', 'notes-1']);
  });
});

describe('the checks catch what they are for', () => {
  // Built from pieces, so that this file itself names none of them.
  const note = `google-oauth-facts${'.md'}`;
  const up = `..${'/'}shared/`;
  const machine = `/wo${'rk'}/notes/x.md`;
  const tree = fixtureTree({
    'README.md': [
      '# Title',
      '## Quick start',
      'See [docs](docs/guide.md), [a section](docs/guide.md#setting-up),',
      '[a missing page](docs/missing.md), [a missing section](docs/guide.md#nowhere),',
      '[here](#quick-start), [not here](#quick-finish), [a folder](docs/) and',
      '[Google](https://developers.google.com/identity). `[code](nowhere.md)` is code.',
      '```md',
      '[inside a fence](nowhere.md)',
      '```',
    ].join('\n'),
    'docs/guide.md': '# Guide\n## Setting up\nBack to [the README](../README.md#title).\n',
    'src/a.ts': [
      '// See docs/guide.md#setting-up and README.md.',
      '// See docs/guide.md#torn-down, docs/gone.md and infra/NOTES.md.',
      "import { b } from '../src/b.ts';",
      `// Written from ${up}${note} and ${machine}.`,
      '// Also /checkout/of/repo/src/b.ts and ../../elsewhere/c.ts.',
    ].join('\n'),
    'src/b.ts': '',
  });

  it('reports links to missing files and headings, and nothing else', () => {
    expect(brokenLinks(tree)).toEqual([
      'README.md:4 (docs/missing.md): docs/missing.md does not exist',
      'README.md:4 (docs/guide.md#nowhere): docs/guide.md has no heading for #nowhere',
      'README.md:5 (#quick-finish): README.md has no heading for #quick-finish',
    ]);
  });

  it('reports notes outside the repository, machine paths and climbing paths', () => {
    expect(outsideReferences(tree)).toEqual([
      `src/a.ts:4: names ${note}, which is not in the repository`,
      'src/a.ts:4: an absolute path of one machine',
      'src/a.ts:5: the absolute path of this checkout (/checkout/of/repo)',
      `src/a.ts:4: ${up}${note} leads to no file here`,
      'src/a.ts:5: ../../elsewhere/c.ts leaves the repository',
    ]);
  });

  it('reports documents and sections cited in code that do not exist', () => {
    expect(brokenCitations(tree)).toEqual([
      'src/a.ts:2 (docs/guide.md#torn-down): docs/guide.md has no heading for #torn-down',
      'src/a.ts:2 (docs/gone.md): docs/gone.md does not exist',
      'src/a.ts:2 (infra/NOTES.md): infra/NOTES.md does not exist',
      `src/a.ts:4 (${up}${note}): shared/${note} does not exist`,
    ]);
  });
});

describe('the repository', () => {
  const tree = diskTree();

  it('has its documentation where the README says', () => {
    for (const file of ['README.md', 'docs/README.md', 'test/bench/README.md'])
      expect(tree.files).toContain(file);
  });

  it('has no relative Markdown link that leads nowhere', () => {
    expect(brokenLinks(tree)).toEqual([]);
  });

  it('names no note outside the repository, no machine path, no path out of the repository', () => {
    expect(outsideReferences(tree)).toEqual([]);
  });

  it('cites in code only documents and sections that exist', () => {
    expect(brokenCitations(tree)).toEqual([]);
  });
});

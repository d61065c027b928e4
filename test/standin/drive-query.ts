// Drive v3 `q` (the subset the project uses) and `fields` projection. Pure functions.

export type DriveQueryTerm =
  | { field: 'name'; op: '=' | '!=' | 'contains'; value: string }
  | { field: 'mimeType'; op: '=' | '!='; value: string }
  | { field: 'trashed'; op: '=' | '!='; value: boolean }
  | { field: 'parents'; parentId: string };

type Token = { type: 'string'; value: string } | { type: 'word'; value: string };

function tokenize(q: string): Token[] | null {
  const tokens: Token[] = [];
  let i = 0;
  while (i < q.length) {
    const c = q[i] ?? '';
    if (/\s/.test(c)) {
      i += 1;
    } else if (c === "'") {
      let value = '';
      i += 1;
      for (;;) {
        const d = q[i];
        if (d === undefined) return null; // unterminated string
        if (d === '\\') {
          const escaped = q[i + 1];
          if (escaped === undefined) return null;
          value += escaped;
          i += 2;
        } else if (d === "'") {
          i += 1;
          break;
        } else {
          value += d;
          i += 1;
        }
      }
      tokens.push({ type: 'string', value });
    } else if (c === '=' || (c === '!' && q[i + 1] === '=')) {
      tokens.push({ type: 'word', value: c === '=' ? '=' : '!=' });
      i += c === '=' ? 1 : 2;
    } else {
      const match = /^[A-Za-z_]+/.exec(q.slice(i));
      if (!match) return null;
      tokens.push({ type: 'word', value: match[0] });
      i += match[0].length;
    }
  }
  return tokens;
}

/** Terms joined by `and`; null when the query is outside the supported subset (→ 400). */
export function parseDriveQuery(q: string): DriveQueryTerm[] | null {
  const tokens = tokenize(q);
  if (!tokens || tokens.length === 0) return null;
  const terms: DriveQueryTerm[] = [];
  let i = 0;
  const word = (t: Token | undefined, value: string): boolean =>
    t?.type === 'word' && t.value.toLowerCase() === value.toLowerCase();
  for (;;) {
    const [a, b, c] = [tokens[i], tokens[i + 1], tokens[i + 2]];
    if (a?.type === 'string' && word(b, 'in') && word(c, 'parents')) {
      terms.push({ field: 'parents', parentId: a.value });
    } else if (
      word(a, 'name') &&
      (word(b, '=') || word(b, '!=') || word(b, 'contains')) &&
      c?.type === 'string'
    ) {
      const op = b?.value.toLowerCase() === 'contains' ? 'contains' : b?.value === '=' ? '=' : '!=';
      terms.push({ field: 'name', op, value: c.value });
    } else if (word(a, 'mimeType') && (word(b, '=') || word(b, '!=')) && c?.type === 'string') {
      terms.push({ field: 'mimeType', op: b?.value === '=' ? '=' : '!=', value: c.value });
    } else if (
      word(a, 'trashed') &&
      (word(b, '=') || word(b, '!=')) &&
      (word(c, 'true') || word(c, 'false'))
    ) {
      terms.push({ field: 'trashed', op: b?.value === '=' ? '=' : '!=', value: word(c, 'true') });
    } else {
      return null;
    }
    i += 3;
    if (i === tokens.length) return terms;
    if (!word(tokens[i], 'and')) return null;
    i += 1;
  }
}

export interface QueryableFile {
  name: string;
  mimeType: string;
  parents: readonly string[];
  trashed: boolean;
}

export function matchesQuery(
  file: QueryableFile,
  terms: readonly DriveQueryTerm[],
  resolveId: (id: string) => string,
): boolean {
  return terms.every((t) => {
    switch (t.field) {
      case 'parents':
        return file.parents.includes(resolveId(t.parentId));
      case 'name':
        return t.op === 'contains'
          ? file.name.includes(t.value)
          : (file.name === t.value) === (t.op === '=');
      case 'mimeType':
        return (file.mimeType === t.value) === (t.op === '=');
      case 'trashed':
        return (file.trashed === t.value) === (t.op === '=');
    }
  });
}

/** The sort keys files.list documents for `orderBy`. */
const ORDER_KEYS = [
  'createdTime',
  'folder',
  'modifiedByMeTime',
  'modifiedTime',
  'name',
  'name_natural',
  'quotaBytesUsed',
  'recency',
  'sharedWithMeTime',
  'starred',
  'viewedByMeTime',
] as const;

export type OrderKey = (typeof ORDER_KEYS)[number];

export interface OrderTerm {
  key: OrderKey;
  desc: boolean;
}

/** `orderBy=folder,modifiedTime desc,name` → terms; null for an unknown key or modifier (→ 400). */
export function parseOrderBy(value: string): OrderTerm[] | null {
  const terms: OrderTerm[] = [];
  for (const part of value.split(',')) {
    const match = /^\s*([A-Za-z_]+)(?:\s+(desc))?\s*$/.exec(part);
    const key = ORDER_KEYS.find((k) => k === match?.[1]);
    if (!match || !key) return null;
    terms.push({ key, desc: match[2] !== undefined });
  }
  return terms;
}

export interface SortableFile {
  name: string;
  mimeType: string;
  createdTime: number;
  modifiedTime: number;
  content: { readonly length: number };
}

const FOLDER = 'application/vnd.google-apps.folder';

/**
 * One key's value. Every file here is the user's own, so modifiedByMeTime is modifiedTime; the
 * stand-in records no views, shares or stars, so those keys leave the order unchanged.
 */
function sortValue(file: SortableFile, key: OrderKey): number | string {
  switch (key) {
    case 'createdTime':
      return file.createdTime;
    case 'modifiedTime':
    case 'modifiedByMeTime':
      return file.modifiedTime;
    case 'recency':
      return Math.max(file.createdTime, file.modifiedTime);
    case 'folder':
      // Ascending puts folders first, as in `orderBy=folder,name`.
      return file.mimeType === FOLDER ? 0 : 1;
    case 'quotaBytesUsed':
      return file.content.length;
    case 'name':
    case 'name_natural':
      return file.name;
    case 'sharedWithMeTime':
    case 'starred':
    case 'viewedByMeTime':
      return 0;
  }
}

/** A comparator for Array#sort (stable, so equal files keep their order). */
export function compareFiles(
  a: SortableFile,
  b: SortableFile,
  order: readonly OrderTerm[],
): number {
  for (const { key, desc } of order) {
    const x = sortValue(a, key);
    const y = sortValue(b, key);
    const diff =
      typeof x === 'string' && typeof y === 'string'
        ? x.localeCompare(y, 'en', { numeric: key === 'name_natural' })
        : Number(x) - Number(y);
    if (diff !== 0) return desc ? -diff : diff;
  }
  return 0;
}

/** `fields` as a tree: "files(id,name),nextPageToken" → {files: {id: null, name: null}, nextPageToken: null}. */
export type FieldTree = Map<string, FieldTree | null>;

export function parseFields(fields: string): FieldTree | null {
  let i = 0;
  const parseList = (): FieldTree | null => {
    const tree: FieldTree = new Map();
    for (;;) {
      const match = /^\s*([A-Za-z_*][A-Za-z0-9_]*)\s*/.exec(fields.slice(i));
      if (!match?.[1]) return null;
      i += match[0].length;
      let sub: FieldTree | null = null;
      if (fields[i] === '(') {
        i += 1;
        sub = parseList();
        if (!sub || fields[i] !== ')') return null;
        i += 1;
        while (fields[i] === ' ') i += 1;
      }
      tree.set(match[1], sub);
      if (fields[i] !== ',') return tree;
      i += 1;
    }
  };
  const tree = parseList();
  return tree && i === fields.length ? tree : null;
}

export function project(value: Record<string, unknown>, tree: FieldTree): Record<string, unknown> {
  if (tree.has('*')) return value;
  const out: Record<string, unknown> = {};
  for (const [key, sub] of tree) {
    const v = value[key];
    if (v === undefined) continue;
    if (sub && Array.isArray(v)) {
      out[key] = v.map((item: unknown) => (isRecord(item) ? project(item, sub) : item));
    } else if (sub && isRecord(v)) {
      out[key] = project(v, sub);
    } else {
      out[key] = v;
    }
  }
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

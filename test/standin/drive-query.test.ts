import { describe, expect, it } from 'vitest';
import {
  compareFiles,
  matchesQuery,
  parseDriveQuery,
  parseFields,
  parseOrderBy,
  project,
  type FieldTree,
  type SortableFile,
} from './drive-query.ts';
import { boundaryOf, parseMultipart } from './multipart.ts';

describe('parseDriveQuery', () => {
  it.each([
    ["name = 'a'", [{ field: 'name', op: '=', value: 'a' }]],
    ["name = 'it\\'s'", [{ field: 'name', op: '=', value: "it's" }]],
    ["name contains 'rep'", [{ field: 'name', op: 'contains', value: 'rep' }]],
    ["'abc' in parents", [{ field: 'parents', parentId: 'abc' }]],
    ["mimeType != 'x/y'", [{ field: 'mimeType', op: '!=', value: 'x/y' }]],
    ['trashed = false', [{ field: 'trashed', op: '=', value: false }]],
    [
      "name = 'a and b' and 'p' in parents AND trashed=false",
      [
        { field: 'name', op: '=', value: 'a and b' },
        { field: 'parents', parentId: 'p' },
        { field: 'trashed', op: '=', value: false },
      ],
    ],
  ])('%s', (q, expected) => {
    expect(parseDriveQuery(q)).toEqual(expected);
  });

  it.each([
    "name = 'a' or name = 'b'",
    "name = 'unterminated",
    'name = a',
    '',
    "modifiedTime > 'x'",
    "name = 'a' and",
  ])('rejects %j', (q) => {
    expect(parseDriveQuery(q)).toBeNull();
  });

  it('matches files', () => {
    const terms = parseDriveQuery("name = 'r.csv' and 'root' in parents and trashed = false") ?? [];
    const resolve = (id: string): string => (id === 'root' ? 'R' : id);
    expect(
      matchesQuery(
        { name: 'r.csv', mimeType: 't', parents: ['R'], trashed: false },
        terms,
        resolve,
      ),
    ).toBe(true);
    expect(
      matchesQuery({ name: 'r.csv', mimeType: 't', parents: ['R'], trashed: true }, terms, resolve),
    ).toBe(false);
    expect(
      matchesQuery(
        { name: 'x.csv', mimeType: 't', parents: ['R'], trashed: false },
        terms,
        resolve,
      ),
    ).toBe(false);
  });
});

describe('orderBy', () => {
  it('parses keys with an optional desc', () => {
    expect(parseOrderBy('folder,modifiedTime desc, name')).toEqual([
      { key: 'folder', desc: false },
      { key: 'modifiedTime', desc: true },
      { key: 'name', desc: false },
    ]);
  });

  it.each(['size', 'modifiedTime asc', 'modifiedTime desc desc', '', 'name,,folder', 'Name'])(
    'rejects %j',
    (value) => {
      expect(parseOrderBy(value)).toBeNull();
    },
  );

  const file = (name: string, modifiedTime: number, mimeType = 'text/plain'): SortableFile => ({
    name,
    mimeType,
    createdTime: 0,
    modifiedTime,
    content: { length: name.length },
  });
  const sorted = (files: SortableFile[], orderBy: string): string[] =>
    [...files].sort((a, b) => compareFiles(a, b, parseOrderBy(orderBy) ?? [])).map((f) => f.name);
  const files = [
    file('b', 20),
    file('a10', 30),
    file('dir', 10, 'application/vnd.google-apps.folder'),
    file('a9', 20),
  ];

  it('sorts by modifiedTime desc, ties keeping their order', () => {
    expect(sorted(files, 'modifiedTime desc')).toEqual(['a10', 'b', 'a9', 'dir']);
    expect(sorted(files, 'modifiedTime')).toEqual(['dir', 'b', 'a9', 'a10']);
  });

  it('folder first, then by name; name_natural reads numbers', () => {
    expect(sorted(files, 'folder,name')).toEqual(['dir', 'a10', 'a9', 'b']);
    expect(sorted(files, 'folder,name_natural')).toEqual(['dir', 'a9', 'a10', 'b']);
    expect(sorted(files, 'starred,name desc')).toEqual(['dir', 'b', 'a9', 'a10']);
  });
});

describe('fields', () => {
  it('projects nested selections', () => {
    const tree = parseFields('nextPageToken, files(id,name)');
    expect(tree).not.toBeNull();
    const value = { kind: 'k', nextPageToken: 't', files: [{ id: '1', name: 'n', size: '3' }] };
    expect(project(value, tree ?? (new Map() as FieldTree))).toEqual({
      nextPageToken: 't',
      files: [{ id: '1', name: 'n' }],
    });
  });

  it('* selects everything; malformed selections are rejected', () => {
    expect(project({ a: 1 }, parseFields('*') ?? (new Map() as FieldTree))).toEqual({ a: 1 });
    expect(parseFields('files(id')).toBeNull();
    expect(parseFields('a,,b')).toBeNull();
  });
});

describe('multipart/related', () => {
  it('splits metadata and media parts', () => {
    const boundary = 'b-123';
    const body = Buffer.from(
      `--${boundary}\r\ncontent-type: application/json\r\n\r\n{"name":"x"}\r\n--${boundary}\r\ncontent-type: text/csv\r\n\r\na,b\r\n1,2\r\n--${boundary}--`,
    );
    expect(boundaryOf(`multipart/related; boundary=${boundary}`)).toBe(boundary);
    expect(boundaryOf('multipart/related; boundary="q b"')).toBe('q b');
    const parts = parseMultipart(body, boundary);
    expect(parts?.map((p) => [p.contentType, p.body.toString()])).toEqual([
      ['application/json', '{"name":"x"}'],
      ['text/csv', 'a,b\r\n1,2'],
    ]);
    expect(parseMultipart(Buffer.from('garbage'), boundary)).toBeNull();
  });
});

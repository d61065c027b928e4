import { describe, expect, it } from 'vitest';
import {
  matchesQuery,
  parseDriveQuery,
  parseFields,
  project,
  type FieldTree,
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

// The body rules' parsers (shared/web/bodies.ts), table by table: Content-Type, the verdict on
// headers alone, and the parsing of an accepted body. The rules on real servers and real bytes:
// test/flows/request-bodies.test.ts.
import { describe, expect, it } from 'vitest';
import {
  REQUEST_BODIES,
  judgeBodyHeaders,
  parseBody,
  parseContentType,
} from '../../shared/web/bodies.ts';

describe('parseContentType', () => {
  it.each([
    [undefined, 'none', undefined],
    ['', 'none', undefined],
    ['application/json', 'application/json', undefined],
    ['APPLICATION/JSON; Charset="UTF-8"', 'application/json', 'utf-8'],
    [
      'application/x-www-form-urlencoded; charset=klingon',
      'application/x-www-form-urlencoded',
      'klingon',
    ],
    ['text/plain;charset=utf-8;format=flowed', 'text/plain', 'utf-8'],
    ['application/secevent+jwt', 'application/secevent+jwt', undefined],
    ['json', 'invalid', undefined],
    ['application/json/x', 'invalid', undefined],
    ['application/js on', 'invalid', undefined],
    ['/json', 'invalid', undefined],
  ])('%j → %s, charset %s', (header, mediaType, charset) => {
    expect(parseContentType(header)).toEqual({ mediaType, charset });
  });
});

describe('judgeBodyHeaders', () => {
  const revoke = REQUEST_BODIES.revoke.POST;
  const risc = REQUEST_BODIES.risc.POST;
  const json = parseContentType('application/json');
  it.each([
    ['no rule for the method', undefined, json, undefined, 10, 'no_body_here'],
    ['gzip', revoke, json, 'gzip', 10, 'content_encoding'],
    ['br, even if small', revoke, json, 'br', 1, 'content_encoding'],
    ['identity', revoke, json, 'identity', 10, undefined],
    [
      'a type revoke does not read',
      revoke,
      parseContentType('text/plain'),
      undefined,
      10,
      'media_type',
    ],
    ['no type', revoke, parseContentType(undefined), undefined, 10, 'media_type'],
    ['JSON to risc', risc, json, undefined, 10, 'media_type'],
    ['a SET to risc', risc, parseContentType('application/secevent+jwt'), undefined, 10, undefined],
    [
      'latin1',
      revoke,
      parseContentType('application/json; charset=latin1'),
      undefined,
      10,
      'charset',
    ],
    [
      'utf8 spelled short',
      revoke,
      parseContentType('application/json; charset=utf8'),
      undefined,
      10,
      undefined,
    ],
    ['a length over the limit', revoke, json, undefined, 64 * 1024 + 1, 'too_large'],
    ['the limit exactly', revoke, json, undefined, 64 * 1024, undefined],
    ['chunked (no length)', revoke, json, undefined, undefined, undefined],
  ] as const)('%s', (_label, rule, contentType, contentEncoding, declared, expected) => {
    expect(judgeBodyHeaders(rule, { contentType, contentEncoding }, declared)).toBe(expected);
  });
});

describe('parseBody', () => {
  const bytes = (text: string) => Buffer.from(text);
  it.each([
    ['an object', 'application/json', bytes('{"sub":"123"}'), { json: { sub: '123' } }],
    ['an array (no fields for the flows)', 'application/json', bytes('[1]'), {}],
    ['broken JSON', 'application/json', bytes('{"sub":'), 'json_syntax'],
    ['32 levels', 'application/json', bytes(`${'['.repeat(32)}${']'.repeat(32)}`), {}],
    ['33 levels', 'application/json', bytes(`${'['.repeat(33)}${']'.repeat(33)}`), 'json_depth'],
    [
      'brackets inside strings',
      'application/json',
      bytes(`{"a":"${'['.repeat(100)}\\"["}`),
      { json: { a: `${'['.repeat(100)}"[` } },
    ],
    ['not UTF-8', 'application/json', Buffer.from([0x7b, 0xff, 0x7d]), 'not_utf8'],
    [
      'a form',
      'application/x-www-form-urlencoded',
      bytes('sub=1&job=x'),
      { form: new URLSearchParams('sub=1&job=x') },
    ],
    [
      '64 fields',
      'application/x-www-form-urlencoded',
      bytes(Array(64).fill('a=1').join('&')),
      { form: new URLSearchParams(Array(64).fill('a=1').join('&')) },
    ],
    [
      '65 fields',
      'application/x-www-form-urlencoded',
      bytes(Array(65).fill('a=1').join('&')),
      'form_fields',
    ],
    ['a SET', 'application/secevent+jwt', bytes('eyJ.e30.'), { text: 'eyJ.e30.' }],
  ])('%s', (_label, mediaType, body, expected) => {
    expect(parseBody(body, mediaType)).toEqual(expected);
  });
});

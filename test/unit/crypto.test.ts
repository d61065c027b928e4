// Keyset parsing, purpose keys, rotation, and AES-256-GCM sealing with associated data.
import { describe, expect, it } from 'vitest';
import { open, seal } from '../../shared/crypto/aead.ts';
import { generateKeysetJson, parseKeyset, rotateKeysetJson } from '../../shared/crypto/keyset.ts';
import { openToken, sealToken } from '../../shared/store/connection/document.ts';
import { DECRYPT_FAILED, KEYSET_INVALID } from '../../shared/errors.ts';

const decryptFailure = expect.objectContaining({
  name: 'OperationError',
  code: DECRYPT_FAILED,
}) as Error;
const keysetInvalid = expect.objectContaining({
  name: 'OperationError',
  code: KEYSET_INVALID,
}) as Error;

const keyset = parseKeyset(generateKeysetJson('k1'));
const tokenKeys = keyset.forPurpose('token');

function parts(sealed: string): [string, string, string, string] {
  const [version = '', keyId = '', iv = '', body = ''] = sealed.split('.');
  return [version, keyId, iv, body];
}

describe('seal / open', () => {
  it('round-trips text and binary values, with a fresh IV every time', () => {
    const text = '1//0g-refresh-token-ünïcødé';
    const a = seal(tokenKeys, text, 'binding');
    const b = seal(tokenKeys, text, 'binding');
    expect(a).not.toBe(b);
    expect(parts(a)[2]).not.toBe(parts(b)[2]);
    expect(a).toMatch(/^v1\.k1\.[\w-]{16}\.[\w-]+$/);
    expect(a).not.toContain(text);
    expect(open(tokenKeys, a, 'binding').toString('utf8')).toBe(text);
    const bytes = Buffer.from([0, 255, 1, 254]);
    expect(open(tokenKeys, seal(tokenKeys, bytes, 'x'), 'x')).toEqual(bytes);
    expect(open(tokenKeys, seal(tokenKeys, '', 'x'), 'x').toString()).toBe('');
  });

  it('binds the value to its associated data (document and field)', () => {
    const sealed = sealToken(tokenKeys, '111', 'refreshToken', 'secret');
    expect(openToken(tokenKeys, '111', 'refreshToken', sealed)).toBe('secret');
    expect(() => openToken(tokenKeys, '222', 'refreshToken', sealed)).toThrow(decryptFailure);
    expect(() => openToken(tokenKeys, '111', 'accessToken', sealed)).toThrow(decryptFailure);
    expect(() => open(tokenKeys, seal(tokenKeys, 'v', 'a'), 'b')).toThrow('authentication failed');
  });

  it('refuses an unknown key id and a rewritten key id', () => {
    const sealed = seal(tokenKeys, 'v', 'b');
    const [version, , iv, body] = parts(sealed);
    expect(() => open(tokenKeys, [version, 'k9', iv, body].join('.'), 'b')).toThrow(
      'unknown key id',
    );
    // k2 exists in a rotated keyset, but the value was not sealed with it (and the key id is AAD).
    const rotated = parseKeyset(rotateKeysetJson(generateKeysetJson('k1'), 'k2'));
    expect(() =>
      open(rotated.forPurpose('token'), [version, 'k2', iv, body].join('.'), 'b'),
    ).toThrow(decryptFailure);
  });

  it('refuses truncated, extended, flipped and malformed values', () => {
    const sealed = seal(tokenKeys, 'some refresh token', 'b');
    const [version, keyId, iv, body] = parts(sealed);
    const flip = (text: string, at: number) =>
      `${text.slice(0, at)}${text[at] === 'A' ? 'B' : 'A'}${text.slice(at + 1)}`;
    const bad = [
      sealed.slice(0, -1),
      sealed.slice(0, -10),
      `${sealed}A`,
      [version, keyId, iv, body.slice(0, 20)].join('.'),
      [version, keyId, iv.slice(0, 8), body].join('.'),
      [version, keyId, '', body].join('.'),
      [version, keyId, iv, ''].join('.'),
      [version, keyId, flip(iv, 3), body].join('.'),
      [version, keyId, iv, flip(body, 0)].join('.'),
      [version, keyId, iv, flip(body, body.length - 3)].join('.'),
      ['v2', keyId, iv, body].join('.'),
      [keyId, iv, body].join('.'),
      `${sealed}.extra`,
      '',
      'garbage',
    ];
    for (const value of bad)
      expect(() => open(tokenKeys, value, 'b'), value).toThrow(decryptFailure);
  });

  it('keeps the key material and plaintext out of error messages', () => {
    const json = generateKeysetJson('k1');
    const material = (JSON.parse(json) as { keys: { k1: string } }).keys.k1;
    try {
      open(tokenKeys, seal(tokenKeys, 'plaintext-xyz', 'a'), 'b');
      expect.unreachable();
    } catch (error) {
      expect(String(error)).not.toContain('plaintext-xyz');
      expect(String(error)).not.toContain(material);
    }
  });
});

describe('keyset', () => {
  it('rotation: a value sealed with k1 opens after k2 becomes primary; new values use k2', () => {
    const oldJson = generateKeysetJson('k1');
    const oldKeys = parseKeyset(oldJson).forPurpose('token');
    const sealedWithK1 = seal(oldKeys, 'old token', 'doc#refreshToken');

    const rotatedJson = rotateKeysetJson(oldJson, 'k2');
    const rotated = parseKeyset(rotatedJson);
    expect(rotated.primaryId).toBe('k2');
    const newKeys = rotated.forPurpose('token');
    expect(open(newKeys, sealedWithK1, 'doc#refreshToken').toString()).toBe('old token');
    const sealedWithK2 = seal(newKeys, 'new token', 'doc#refreshToken');
    expect(parts(sealedWithK2)[1]).toBe('k2');
    // An instance still on the old keyset cannot read values of the new key (deploy order matters).
    expect(() => open(oldKeys, sealedWithK2, 'doc#refreshToken')).toThrow('unknown key id');
    expect(() => rotateKeysetJson(rotatedJson, 'k1')).toThrow(keysetInvalid);
  });

  it('derives a different key for every purpose, none equal to the master key', () => {
    const json = generateKeysetJson('k1');
    const master = Buffer.from((JSON.parse(json) as { keys: { k1: string } }).keys.k1, 'base64');
    const set = parseKeyset(json);
    const derived = (['token', 'cookie', 'link'] as const).map((purpose) =>
      set.forPurpose(purpose).keys.get('k1')!,
    );
    expect(new Set(derived.map((key) => key.toString('hex'))).size).toBe(3);
    for (const key of derived) {
      expect(key).toHaveLength(32);
      expect(key.equals(master)).toBe(false);
    }
    // A cookie sealed with the cookie key never opens as a token, with the same binding.
    const cookie = seal(set.forPurpose('cookie'), 'x', 'same');
    expect(() => open(set.forPurpose('token'), cookie, 'same')).toThrow(decryptFailure);
    // Derivation is deterministic: another instance with the same keyset reads the values.
    expect(open(parseKeyset(json).forPurpose('cookie'), cookie, 'same').toString()).toBe('x');
  });

  const malformed: Array<[string, string]> = [
    ['not json', 'not valid JSON'],
    ['[]', '"primary"'],
    ['null', 'must be a JSON object'],
    ['{"keys":{}}', '"primary"'],
    ['{"primary":"k1"}', '"keys"'],
    ['{"primary":"k1","keys":[]}', '"keys"'],
    ['{"primary":"k 1","keys":{}}', '"primary"'],
    ['{"primary":"k1","keys":{"k2":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}}', 'not among'],
    ['{"primary":"k1","keys":{"k1":"c2hvcnQ="}}', '32 bytes'],
    ['{"primary":"k1","keys":{"k1":42}}', '32 bytes'],
    ['{"primary":"k1","keys":{"k1":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}', '32 bytes'],
    ['{"primary":"k1","keys":{"k1":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA-_"}}', '32 bytes'],
  ];
  it.each(malformed)('refuses %s (%s)', (json, message) => {
    expect(() => parseKeyset(json)).toThrow(keysetInvalid);
    expect(() => parseKeyset(json)).toThrow(message);
  });

  it('never puts key bytes into an error message', () => {
    const short = 'c2VjcmV0LWtleS1ieXRlcw==';
    try {
      parseKeyset(JSON.stringify({ primary: 'k1', keys: { k1: short } }));
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).not.toContain(short);
    }
  });
});

// The gcloud runner's describe semantics, the keyset classification and the KMS wrap, the DPoP
// keys the deploy generates, and the Rules API client, with injected fakes.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describe as describeResource, GcloudError } from '../../infra/deploy/gcloud.ts';
import type { Gcloud, GcloudResult } from '../../infra/deploy/gcloud.ts';
import { generateDpopKeysJson } from '../../infra/deploy/dpop-keys.ts';
import { classifyKeyset } from '../../infra/deploy/keyset.ts';
import { wrapWithGcloud } from '../../infra/deploy/kms.ts';
import { releaseName, rulesApi } from '../../infra/deploy/rules-api.ts';
import { SecretInputs } from '../../infra/deploy/secret-inputs.ts';
import { generateKeysetJson } from '../../shared/crypto/keyset.ts';
import { parseDpopKeys } from '../../shared/oauth/dpop.ts';

function gcloudAnswering(result: GcloudResult, calls: (readonly string[])[] = []): Gcloud {
  return {
    run: (args) => {
      calls.push(args);
      return Promise.resolve(result);
    },
  };
}

describe('describe', () => {
  it('asks for JSON and parses it', async () => {
    const calls: (readonly string[])[] = [];
    const value = await describeResource(
      gcloudAnswering({ code: 0, stdout: '{"name":"x"}', stderr: '' }, calls),
      ['pubsub', 'topics', 'describe', 'x'],
    );
    expect(value).toEqual({ name: 'x' });
    expect(calls[0]).toEqual(['pubsub', 'topics', 'describe', 'x', '--format=json']);
  });

  it.each([
    'ERROR: (gcloud.pubsub.topics.describe) NOT_FOUND: Resource not found (resource=x).',
    'ERROR: (gcloud.functions.describe) ResponseError: status=[404], code=[Ok], message=[Function x in region r in project p does not exist]',
    'ERROR: (gcloud.firestore.databases.describe) NOT_FOUND: The database (default) does not exist for project p',
  ])('answers undefined for a missing resource: %s', async (stderr) => {
    expect(await describeResource(gcloudAnswering({ code: 1, stdout: '', stderr }), ['x'])).toBe(
      undefined,
    );
  });

  it('throws on any other failure instead of treating it as absent', async () => {
    const gcloud = gcloudAnswering({
      code: 1,
      stdout: '',
      stderr: 'ERROR: PERMISSION_DENIED: Permission denied on resource project p.',
    });
    await expect(describeResource(gcloud, ['secrets', 'describe', 's'])).rejects.toBeInstanceOf(
      GcloudError,
    );
  });
});

describe('classifyKeyset', () => {
  const KMS_KEY =
    'projects/p/locations/europe-west1/keyRings/consent-vault/cryptoKeys/token-keyset';

  it('tells a master keyset from a purpose keyset and a wrapped one', () => {
    expect(classifyKeyset(generateKeysetJson('k1'))).toEqual({ format: 'master' });
    expect(classifyKeyset(generateKeysetJson('k1', 'link'))).toEqual({
      format: 'purpose',
      purpose: 'link',
    });
    const wrapped = JSON.stringify({
      wrapped: { kmsKey: KMS_KEY, purpose: 'token', ciphertext: 'AAAA' },
    });
    expect(classifyKeyset(wrapped)).toEqual({
      format: 'wrapped',
      purpose: 'token',
      kmsKey: KMS_KEY,
    });
  });

  it('names what is wrong with anything else, without the key bytes', () => {
    const keyset = generateKeysetJson('k1', 'token');
    const key = (JSON.parse(keyset) as { keys: { k1: string } }).keys.k1;
    const broken = keyset.replace('"primary":"k1"', '"primary":"k9"');
    const result = classifyKeyset(broken);
    expect(result).toMatchObject({ format: 'invalid' });
    expect(JSON.stringify(result)).not.toContain(key);
    expect(classifyKeyset('not json')).toMatchObject({ format: 'invalid' });
    expect(classifyKeyset('{"wrapped":{"kmsKey":"k"}}')).toMatchObject({ format: 'invalid' });
  });
});

describe('wrapWithGcloud', () => {
  const key = {
    project: 'p',
    location: 'europe-west1',
    keyRing: 'consent-vault',
    key: 'token-keyset',
    name: 'projects/p/locations/europe-west1/keyRings/consent-vault/cryptoKeys/token-keyset',
  };

  it('sends the keyset on stdin only and stores the ciphertext gcloud wrote, with its purpose', async () => {
    const keyset = generateKeysetJson('k1', 'token');
    const seen: { args: readonly string[]; stdin: string; aad: string; dir: string }[] = [];
    const gcloud: Gcloud = {
      run: (args, stdin) => {
        const file = (name: string): string =>
          args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? '';
        seen.push({
          args,
          stdin: stdin?.toString('utf8') ?? '',
          aad: readFileSync(file('additional-authenticated-data-file'), 'utf8'),
          dir: path.dirname(file('ciphertext-file')),
        });
        writeFileSync(file('ciphertext-file'), Buffer.from([0, 255, 7]));
        return Promise.resolve({ code: 0, stdout: '', stderr: '' });
      },
    };
    const shown: (readonly string[])[] = [];
    const wrapped = await wrapWithGcloud(gcloud, key, keyset, (args) => shown.push(args));
    expect(JSON.parse(wrapped)).toEqual({
      wrapped: { kmsKey: key.name, purpose: 'token', ciphertext: 'AP8H' },
    });
    expect(seen).toHaveLength(1);
    expect(seen[0]?.stdin).toBe(keyset);
    expect(seen[0]?.aad).toBe('consent-vault/keyset/token');
    expect(seen[0]?.args.join(' ')).not.toContain(keyset);
    expect(shown).toEqual([seen[0]?.args]);
    // The temporary folder is gone.
    expect(existsSync(seen[0]?.dir ?? '')).toBe(false);
  });

  it('refuses a master keyset: only a purpose keyset is wrapped', async () => {
    const gcloud: Gcloud = { run: () => Promise.reject(new Error('not called')) };
    await expect(
      wrapWithGcloud(gcloud, key, generateKeysetJson('k1'), () => undefined),
    ).rejects.toThrow('only a purpose keyset is wrapped');
  });
});

describe('generateDpopKeysJson', () => {
  it('makes one private ES256 (P-256) JWK, "d1", primary, that parseDpopKeys reads', async () => {
    const json = generateDpopKeysJson();
    const parsed = JSON.parse(json) as {
      primary: string;
      keys: Record<string, Record<string, string>>;
    };
    expect(parsed.primary).toBe('d1');
    expect(Object.keys(parsed.keys)).toEqual(['d1']);
    const jwk = parsed.keys['d1'] ?? {};
    expect(Object.keys(jwk)).toEqual(['kty', 'crv', 'x', 'y', 'd']);
    expect([jwk['kty'], jwk['crv']]).toEqual(['EC', 'P-256']);
    // 32-byte coordinates and private scalar, base64url.
    for (const part of ['x', 'y', 'd'] as const)
      expect(Buffer.from(jwk[part] ?? '', 'base64url')).toHaveLength(32);
    const keys = await parseDpopKeys(json);
    expect(keys.jkts).toEqual([keys.primaryJkt]);
    const proof = await keys.proof(keys.primaryJkt, {
      htm: 'POST',
      htu: 'https://oauth2.googleapis.com/token',
    });
    const header = JSON.parse(
      Buffer.from(proof.split('.')[0] ?? '', 'base64url').toString('utf8'),
    ) as { alg: string; jwk: Record<string, string> };
    expect(header.alg).toBe('ES256');
    // The proof carries the public key only.
    expect(header.jwk).toEqual({ kty: 'EC', crv: 'P-256', x: jwk['x'], y: jwk['y'] });
  });

  it('makes a fresh key each time', () => {
    expect(generateDpopKeysJson()).not.toBe(generateDpopKeysJson());
  });

  it('is what SecretInputs sends for a dpop-keys step, one value per run, with no gcloud call', async () => {
    const calls: (readonly string[])[] = [];
    const inputs = new SecretInputs({
      gcloud: gcloudAnswering({ code: 1, stdout: '', stderr: 'not called' }, calls),
      project: 'p',
      clientSecretFile: undefined,
      readStdin: () => Buffer.alloc(0),
      show: () => undefined,
    });
    const first = await inputs.get({ kind: 'dpop-keys' });
    expect((await parseDpopKeys(first.toString('utf8'))).jkts).toHaveLength(1);
    expect((await inputs.get({ kind: 'dpop-keys' })).equals(first)).toBe(true);
    expect(calls).toEqual([]);
  });
});

describe('rulesApi', () => {
  interface Call {
    readonly url: string;
    readonly method: string;
    readonly headers: Record<string, string>;
    readonly body: string | undefined;
  }

  function fakeFetch(answers: Record<string, [number, unknown]>, calls: Call[]): typeof fetch {
    return (input, init) => {
      const url = input instanceof Request ? input.url : String(input);
      const method = init?.method ?? 'GET';
      calls.push({
        url,
        method,
        headers: init?.headers as Record<string, string>,
        body: init?.body as string | undefined,
      });
      const path = url.replace('https://rules.test/v1/', '');
      const [status, body] = answers[`${method} ${path}`] ?? [404, { error: { message: 'nf' } }];
      return Promise.resolve(new Response(JSON.stringify(body), { status }));
    };
  }

  const TOKEN = 'ya29.secret-token';

  it('names the default and a named database release', () => {
    expect(releaseName('p', '(default)')).toBe('projects/p/releases/cloud.firestore');
    expect(releaseName('p', 'other')).toBe('projects/p/releases/cloud.firestore/other');
  });

  it('reads the released source, sending the token only in a header', async () => {
    const calls: Call[] = [];
    const api = rulesApi({
      root: 'https://rules.test',
      project: 'p',
      accessToken: () => Promise.resolve(TOKEN),
      fetch: fakeFetch(
        {
          'GET projects/p/releases/cloud.firestore': [
            200,
            { rulesetName: 'projects/p/rulesets/r1' },
          ],
          'GET projects/p/rulesets/r1': [200, { source: { files: [{ content: 'RULES' }] } }],
        },
        calls,
      ),
    });
    expect(await api.releasedSource('(default)')).toBe('RULES');
    for (const call of calls) {
      expect(call.url).not.toContain(TOKEN);
      expect(call.headers['authorization']).toBe(`Bearer ${TOKEN}`);
      expect(call.headers['x-goog-user-project']).toBe('p');
    }
  });

  it('creates a release when none exists, and updates an existing one', async () => {
    const created: Call[] = [];
    await rulesApi({
      root: 'https://rules.test',
      project: 'p',
      accessToken: () => Promise.resolve(TOKEN),
      fetch: fakeFetch(
        {
          'POST projects/p/rulesets': [200, { name: 'projects/p/rulesets/r2' }],
          'POST projects/p/releases': [200, {}],
        },
        created,
      ),
    }).release('(default)', 'RULES');
    expect(created.map((c) => `${c.method} ${c.url}`)).toEqual([
      'POST https://rules.test/v1/projects/p/rulesets',
      'GET https://rules.test/v1/projects/p/releases/cloud.firestore',
      'POST https://rules.test/v1/projects/p/releases',
    ]);
    expect(JSON.parse(created[2]?.body ?? '')).toEqual({
      name: 'projects/p/releases/cloud.firestore',
      rulesetName: 'projects/p/rulesets/r2',
    });

    const updated: Call[] = [];
    await rulesApi({
      root: 'https://rules.test',
      project: 'p',
      accessToken: () => Promise.resolve(TOKEN),
      fetch: fakeFetch(
        {
          'POST projects/p/rulesets': [200, { name: 'projects/p/rulesets/r3' }],
          'GET projects/p/releases/cloud.firestore': [
            200,
            { rulesetName: 'projects/p/rulesets/r1' },
          ],
          'PATCH projects/p/releases/cloud.firestore': [200, {}],
        },
        updated,
      ),
    }).release('(default)', 'RULES');
    expect(updated.at(-1)?.method).toBe('PATCH');
    expect(JSON.parse(updated.at(-1)?.body ?? '')).toEqual({
      release: {
        name: 'projects/p/releases/cloud.firestore',
        rulesetName: 'projects/p/rulesets/r3',
      },
    });
  });

  it('reports an API error without the token', async () => {
    const api = rulesApi({
      root: 'https://rules.test',
      project: 'p',
      accessToken: () => Promise.resolve(TOKEN),
      fetch: fakeFetch({ 'POST projects/p/rulesets': [403, { error: { message: 'denied' } }] }, []),
    });
    const error = await api.release('(default)', 'RULES').catch((e: unknown) => e);
    expect(String(error)).toContain('answered 403: denied');
    expect(String(error)).not.toContain(TOKEN);
  });
});

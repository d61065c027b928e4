// Build time only: exercises the lazily loaded clients of a function so that the V8 code cache
// shipped with it (infra/build.ts) holds their compiled code, not just the top level. The build
// points every endpoint at 127.0.0.1:1, which refuses connections: each call runs up to the
// network and fails fast. Nothing is contacted; no secret is involved (placeholder settings).
import { createSign, generateKeyPairSync } from 'node:crypto';
import { createOAuthClient } from '../oauth/google-client.ts';
import type { Runtime } from './runtime.ts';

const within = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([promise, new Promise((resolve) => setTimeout(resolve, ms))]);

export async function warmUpClients(runtime: Runtime): Promise<unknown> {
  const { config } = runtime;
  const client = await createOAuthClient(config, 'warm-up');
  return Promise.allSettled([
    within((async () => (await runtime.firestore()).doc('warm-up/doc').get())(), 3000),
    within(
      runtime.documents().then((documents) => documents.commit([])),
      3000,
    ),
    within(
      runtime.documents().then((documents) => documents.get('warm-up/doc')),
      3000,
    ),
    within(client.getToken({ code: 'warm-up', codeVerifier: 'warm-up' }), 3000),
    client.verifySignedJwtWithCertsAsync(...signedWarmUpToken(config.clientId), config.clientId, [
      ...config.google.issuers,
    ]),
    within(runtime.events().emit({ type: 'connected', sub: 'warm-up' }), 3000),
  ]);
}

/** A throwaway RS256 token and its certificate map, to run the ID-token verification path. */
function signedWarmUpToken(audience: string): [string, Record<string, string>] {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const now = Math.floor(Date.now() / 1000);
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const unsigned = `${part({ alg: 'RS256', kid: 'warm-up', typ: 'JWT' })}.${part({
    iss: 'https://accounts.google.com',
    aud: audience,
    sub: 'warm-up',
    iat: now,
    exp: now + 300,
  })}`;
  const signature = createSign('RSA-SHA256').update(unsigned).sign(privateKey, 'base64url');
  return [
    `${unsigned}.${signature}`,
    { 'warm-up': publicKey.export({ type: 'spki', format: 'pem' }).toString() },
  ];
}

// The first DPoP key set of a project (RFC 9449; shared/oauth/dpop.ts reads it): one ES256 key
// pair, made in memory when the deploy creates the secret and sent to gcloud on standard input
// only (secret-inputs.ts). The format is parseDpopKeys's: private JWKs by id, one primary.
//   {"primary":"d1","keys":{"d1":{"kty":"EC","crv":"P-256","x":…,"y":…,"d":…}}}
import { generateKeyPairSync } from 'node:crypto';
import { DPOP } from './resources.ts';

export function generateDpopKeysJson(): string {
  const id = DPOP.firstKeyId;
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { x, y, d } = privateKey.export({ format: 'jwk' });
  return JSON.stringify({ primary: id, keys: { [id]: { kty: 'EC', crv: 'P-256', x, y, d } } });
}

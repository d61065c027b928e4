// The keys that sign Security Event Tokens, published as the JWKS the RISC discovery document
// names. Google signs SETs with the keys of its ID-token JWKS; the stand-in keeps a set of its
// own so that rotating it (a receiver's "unknown kid → fetch the JWKS again" path) leaves ID
// tokens alone. A receiver that takes `jwks_uri` from the discovery document, as it must, sees
// no difference. Also a "foreign" key that is published nowhere, for forged tokens.
import { createSigningKey, signJwt, type PublicJwk, type SigningKey } from './keys.ts';

export interface SignSetOptions {
  /**
   * `stand-in` (default): the current signing key. `foreign`: a key the JWKS does not hold.
   * `none`: an unsigned token (`alg: none`, empty signature).
   */
  key?: 'stand-in' | 'foreign' | 'none';
  /**
   * The header's `kid`. Default: the current signing key's, for `foreign` too, so a receiver
   * must check the signature, not only that the kid is known.
   */
  kid?: string;
}

/** Two keys are published, like Google's rotating pair; the first signs. */
export class RiscKeys {
  #published: SigningKey[];
  readonly #foreign: SigningKey;

  private constructor(published: SigningKey[], foreign: SigningKey) {
    this.#published = published;
    this.#foreign = foreign;
  }

  static async create(): Promise<RiscKeys> {
    const [signing, next, foreign] = await Promise.all([
      createSigningKey(),
      createSigningKey(),
      createSigningKey(),
    ]);
    return new RiscKeys([signing, next], foreign);
  }

  get signing(): SigningKey {
    const key = this.#published[0];
    if (!key) throw new Error('no RISC signing key');
    return key;
  }

  jwks(): { keys: PublicJwk[] } {
    return { keys: this.#published.map((k) => k.jwk) };
  }

  /**
   * A new key signs from now on and is published first; the previous signer stays published
   * (SETs already sent still verify), the older one is dropped.
   */
  async rotate(): Promise<{ kid: string; previousKid: string }> {
    const previous = this.signing;
    const fresh = await createSigningKey();
    this.#published = [fresh, previous];
    return { kid: fresh.kid, previousKid: previous.kid };
  }

  /** A compact SET (`typ: secevent+jwt`) over exactly this payload. */
  sign(payload: Record<string, unknown>, options: SignSetOptions = {}): string {
    const kid = options.kid ?? this.signing.kid;
    switch (options.key ?? 'stand-in') {
      case 'stand-in':
        return signJwt({ kid, privateKey: this.signing.privateKey }, payload, 'secevent+jwt');
      case 'foreign':
        return signJwt({ kid, privateKey: this.#foreign.privateKey }, payload, 'secevent+jwt');
      case 'none': {
        const encode = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
        return `${encode({ alg: 'none', kid, typ: 'secevent+jwt' })}.${encode(payload)}.`;
      }
      default:
        throw new RangeError('key must be stand-in, foreign or none');
    }
  }
}

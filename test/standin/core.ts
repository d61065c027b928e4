// The state every handler works on, built once per stand-in and passed explicitly.
import { randomBytes } from 'node:crypto';
import { createClock, type Clock } from './clock.ts';
import { DpopState } from './dpop-check.ts';
import { DriveStore } from './drive-store.ts';
import { createKeySet, type KeySet } from './keys.ts';
import { OAuthStore } from './oauth-store.ts';
import { RiscKeys } from './risc-keys.ts';
import { RiscTransmitter } from './risc-stream.ts';
import { SheetsStore } from './sheets-store.ts';
import type { ClientRegistration } from './types.ts';

export const DEFAULT_USER = 'user@example.com';

/** A scripted consent decision: the auth endpoint answers with the 302 at once. */
export interface ScriptedDecision {
  decision: 'approve' | 'deny';
  /** Email of the user who "signs in"; default login_hint, then user@example.com. */
  user?: string;
  /** Space separated subset of the requested scopes to grant; default all. */
  grant?: string;
}

export interface StandInCore {
  clock: Clock;
  keys: KeySet;
  oauth: OAuthStore;
  /** DPoP at the token endpoint: the nonce and the proof ids already seen. */
  dpop: DpopState;
  drive: DriveStore;
  sheets: SheetsStore;
  /** Cross-Account Protection: the event stream and its signing keys. */
  risc: RiscTransmitter;
  /** HMAC key for the consent form's hidden request field. */
  consentKey: Buffer;
  scripted: { current: ScriptedDecision | null };
}

export async function createCore(options: {
  clients: readonly ClientRegistration[];
  codeTtlSeconds: number;
}): Promise<StandInCore> {
  const clock = createClock();
  const [keys, riscKeys] = await Promise.all([createKeySet(), RiscKeys.create()]);
  const oauth = new OAuthStore(clock, options.codeTtlSeconds, options.clients);
  return {
    clock,
    keys,
    oauth,
    dpop: new DpopState(clock),
    drive: new DriveStore(clock),
    sheets: new SheetsStore(),
    risc: new RiscTransmitter(riscKeys, oauth),
    consentKey: randomBytes(32),
    scripted: { current: null },
  };
}

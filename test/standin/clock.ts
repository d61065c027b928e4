// The controllable clock. Everything the stand-in expires (codes, access tokens, refresh tokens
// of Testing-mode clients, unused refresh tokens) is judged on it, so tests can jump hours ahead.
// ID tokens are the one exception: their iat/exp use real wall time, because
// google-auth-library's verifyIdToken checks them against Date.now().

export interface Clock {
  /** Milliseconds since the epoch, shifted by the offset. */
  now(): number;
  offsetMs(): number;
  advance(ms: number): void;
  setOffset(ms: number): void;
}

export function createClock(): Clock {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    offsetMs: () => offset,
    advance(ms) {
      assertFinite(ms);
      offset += ms;
    },
    setOffset(ms) {
      assertFinite(ms);
      offset = ms;
    },
  };
}

function assertFinite(ms: number): void {
  if (!Number.isFinite(ms)) throw new RangeError(`clock: not a finite number of ms: ${ms}`);
}

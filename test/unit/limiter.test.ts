// The Google lanes' AIMD (shared/runs/limiter.ts): halved when Google says slow down, once per
// cool-down however many calls said so, never below one; earned back one lane per round of users
// finishing without being told so, never above the configured width; waiting users are let in as
// lanes open.
import { describe, expect, it } from 'vitest';
import { createAdaptiveLimiter } from '../../shared/runs/limiter.ts';
import { isSlowDown } from '../../shared/retry/classify.ts';

function clockAt(start = 0) {
  let now = start;
  return { clock: { now: () => now }, advance: (ms: number) => (now += ms) };
}

describe('adaptive Google lanes', () => {
  it('halve once per cool-down, never below one lane', () => {
    const time = clockAt();
    const lanes = createAdaptiveLimiter(16, { clock: time.clock, coolDownMs: 1000 });
    lanes.slowDown();
    lanes.slowDown();
    lanes.slowDown();
    expect(lanes.limit).toBe(8);
    for (const expected of [4, 2, 1, 1]) {
      time.advance(1000);
      lanes.slowDown();
      expect(lanes.limit).toBe(expected);
    }
  });

  it('come back one lane per round of users that were not told to slow down', () => {
    const time = clockAt();
    const lanes = createAdaptiveLimiter(8, { clock: time.clock });
    lanes.slowDown();
    expect(lanes.limit).toBe(4);
    for (let i = 0; i < 4; i += 1) lanes.recovered();
    expect(lanes.limit).toBe(5);
    for (let i = 0; i < 200; i += 1) lanes.recovered();
    expect(lanes.limit).toBe(8);
  });

  it('admit no more users than the lanes open, and let waiting ones in as lanes come back', async () => {
    const time = clockAt();
    const lanes = createAdaptiveLimiter(4, { clock: time.clock });
    lanes.slowDown();
    const held = await Promise.all([lanes.acquire(), lanes.acquire()]);
    let third = false;
    const waiting = lanes.acquire().then((release) => {
      third = true;
      return release;
    });
    await Promise.resolve();
    expect(third).toBe(false);
    expect(lanes.active).toBe(2);
    lanes.recovered();
    lanes.recovered();
    await waiting;
    expect(third).toBe(true);
    expect(lanes.active).toBe(3);
    for (const release of held) release();
  });

  it('a plain limiter never adapts', () => {
    const lanes = createAdaptiveLimiter(4);
    lanes.slowDown();
    expect(lanes.limit).toBe(4);
  });

  it('slow down on 429 and rate-limit reasons, not on outages', () => {
    expect(isSlowDown({ status: 429, reason: 'http_429' })).toBe(true);
    expect(isSlowDown({ status: 403, reason: 'userRateLimitExceeded' })).toBe(true);
    expect(isSlowDown({ status: 503, reason: 'backendError' })).toBe(false);
    expect(isSlowDown({ status: undefined, reason: 'network' })).toBe(false);
  });
});

// Time as a dependency: every wait and every "now" of the retry code goes through these, so tests
// drive them and nothing hides a real timer.

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

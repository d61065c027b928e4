// The discrete-event core of the capacity plan (docs/scale.md#the-model): a time-ordered queue of
// callbacks, a hash that gives every random draw from its own coordinates (so a run is the same
// for a seed whatever order events happen in, and two runs that differ in one input draw the same
// latencies), a token bucket per quota, and per-second counters. Nothing here reads a clock.

interface Entry {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
}

/** A binary min-heap of callbacks by time; equal times run in the order they were scheduled. */
export class EventQueue {
  private readonly heap: Entry[] = [];
  private seq = 0;
  /** Simulated milliseconds since the tick. */
  now = 0;

  at(time: number, fn: () => void): void {
    const entry = { at: Math.max(time, this.now), seq: this.seq++, fn };
    const heap = this.heap;
    let i = heap.push(entry) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(entry, heap[parent]!)) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = entry;
  }

  after(delayMs: number, fn: () => void): void {
    this.at(this.now + delayMs, fn);
  }

  /** Runs every event, in time order, until none is left. */
  run(): void {
    for (let next = this.pop(); next !== undefined; next = this.pop()) {
      this.now = next.at;
      next.fn();
    }
  }

  private pop(): Entry | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && before(heap[right]!, heap[left]!) ? right : left;
      if (!before(heap[child]!, last)) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
    return top;
  }
}

function before(a: Entry, b: Entry): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** A number in [0, 1) from four whole numbers (a murmur3-style mix): one draw per coordinate. */
export function unitHash(seed: number, a: number, b: number, c: number): number {
  let h = mix(mix(mix(Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b), a), b), c);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 2 ** 32;
}

function mix(h: number, part: number): number {
  let k = Math.imul(part >>> 0, 0xcc9e2d51);
  k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return Math.imul(h, 5) + 0xe6546b64;
}

/**
 * A quota: refills at its per-second rate and holds at most one second's worth, so the model never
 * assumes more than the documented average (Google counts per minute, which allows bursts the
 * model does not take). A rate of 0 is no quota.
 */
export class TokenBucket {
  private tokens: number;
  private last = 0;
  private readonly perSecond: number;
  private readonly burst: number;

  constructor(perSecond: number) {
    this.perSecond = perSecond;
    this.burst = Math.max(1, perSecond);
    this.tokens = this.burst;
  }

  take(now: number): boolean {
    if (this.perSecond <= 0) return true;
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.perSecond) / 1000);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** What the bucket can hand out before its rate applies (the floor subtracts it). */
  get burstSize(): number {
    return this.perSecond <= 0 ? Number.POSITIVE_INFINITY : this.burst;
  }
}

/** Counts per simulated second. */
export class PerSecond {
  private readonly bins: number[] = [];
  total = 0;

  add(atMs: number, count = 1): void {
    const bin = Math.floor(atMs / 1000);
    while (this.bins.length <= bin) this.bins.push(0);
    this.bins[bin]! += count;
    this.total += count;
  }

  peak(): number {
    return this.bins.reduce((max, value) => Math.max(max, value), 0);
  }

  /** The first second whose count is above what `limit` allows then, or undefined. */
  firstAbove(limit: (second: number) => number): { second: number; count: number } | undefined {
    const second = this.bins.findIndex((count, index) => count > limit(index));
    return second === -1 ? undefined : { second, count: this.bins[second]! };
  }
}

/** A FIFO queue with O(1) shift (arrays shift in linear time). */
export class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head++];
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}

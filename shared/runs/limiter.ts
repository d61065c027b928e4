// A per-instance concurrency limit shared by every batch in flight on this instance, so the
// number of users processed at once stays at WORKER_CONCURRENCY however many Pub/Sub deliveries
// arrive together (a gen2 function instance may take several requests at once).
export interface Limiter {
  run<T>(work: () => Promise<T>): Promise<T>;
  /** Waits for a lane; the returned function gives it back (calling it again does nothing). */
  acquire(): Promise<() => void>;
  readonly active: number;
}

export function createLimiter(concurrency: number): Limiter {
  let active = 0;
  const waiting: (() => void)[] = [];
  const release = (): void => {
    active -= 1;
    const next = waiting.shift();
    if (next) {
      active += 1;
      next();
    }
  };
  const acquire = async (): Promise<() => void> => {
    if (active < concurrency) active += 1;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      release();
    };
  };
  return {
    async run(work) {
      const done = await acquire();
      try {
        return await work();
      } finally {
        done();
      }
    },
    acquire,
    get active() {
      return active;
    },
  };
}

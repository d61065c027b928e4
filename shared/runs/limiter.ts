// A per-instance concurrency limit shared by every batch in flight on this instance, so the
// number of users processed at once stays at WORKER_CONCURRENCY however many Pub/Sub deliveries
// arrive together (a gen2 function instance may take several requests at once).
export interface Limiter {
  run<T>(work: () => Promise<T>): Promise<T>;
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
  return {
    async run(work) {
      if (active < concurrency) active += 1;
      else await new Promise<void>((resolve) => waiting.push(resolve));
      try {
        return await work();
      } finally {
        release();
      }
    },
    get active() {
      return active;
    },
  };
}

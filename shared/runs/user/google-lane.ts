// The Google lane (docs/architecture.md#pipelined-lanes): WORKER_CONCURRENCY bounds the users
// calling Google at once (deps.limiter), fewer while Google says slow down. Entering a lane gives
// the user's lookahead slot back, so the next user can take its lease meanwhile, and the wait is
// not counted as work. A user done without being told to slow down earns a lane back.
import type { UserWork } from './context.ts';

export function inGoogleLane<T>(work: UserWork, task: () => Promise<T>): Promise<T> {
  const waitFrom = work.now();
  return work.deps.limiter.run(async () => {
    work.addQueueTime(work.now() - waitFrom);
    work.leaveLookahead();
    const result = await task();
    if (!work.slowedDown) work.deps.limiter.recovered();
    return result;
  });
}

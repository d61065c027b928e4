// CloudEvent handlers for the dispatcher and worker functions: translate the Pub/Sub CloudEvent,
// call the run modules, and turn the outcome into ack (return) or nack (throw). Kept here so the
// files in functions/ stay one-line adapters and tests can drive the same code. Both leave
// functions-framework's per-request domain first (shared/platform/request-domain.ts).
import { BAD_MESSAGE, isOperationError, REDELIVER } from '../errors.ts';
import { leaveRequestDomain } from '../platform/request-domain.ts';
import type { RunDeps } from './deps.ts';
import { dispatchRun, type DispatchResult } from './dispatch.ts';
import { deliveryFromCloudEvent, parseTick, type CloudEventLike } from './messages.ts';
import { handleWorkDelivery, type WorkResult } from './worker.ts';

export function dispatcherHandler(deps: () => Promise<RunDeps>) {
  return async (event: CloudEventLike): Promise<DispatchResult | undefined> => {
    leaveRequestDomain();
    const runDeps = await deps();
    let tickTime: number;
    try {
      tickTime = parseTick(deliveryFromCloudEvent(event), runDeps.runtime.clock.now()).scheduledAt;
    } catch (error) {
      if (!isOperationError(error, BAD_MESSAGE)) throw error;
      // A tick without a usable envelope is still a tick: the clock names the period.
      runDeps.runtime.log.warn('tick without a Pub/Sub envelope; using the current time', {
        error,
      });
      tickTime = runDeps.runtime.clock.now();
    }
    return dispatchRun(runDeps, { scheduledAt: tickTime });
  };
}

export function workerHandler(deps: () => Promise<RunDeps>) {
  return async (event: CloudEventLike): Promise<WorkResult | undefined> => {
    leaveRequestDomain();
    const runDeps = await deps();
    let delivery;
    try {
      delivery = deliveryFromCloudEvent(event);
    } catch (error) {
      if (!isOperationError(error, BAD_MESSAGE)) throw error;
      runDeps.runtime.log.error('work event without a Pub/Sub message; acknowledged', { error });
      return undefined;
    }
    try {
      return await handleWorkDelivery(runDeps, delivery);
    } catch (error) {
      if (isOperationError(error, REDELIVER))
        runDeps.runtime.log.info('batch left for redelivery', { pending: Number(error.detail) });
      else runDeps.runtime.log.error('work delivery failed; Pub/Sub will redeliver', { error });
      throw error;
    }
  };
}

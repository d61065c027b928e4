// Pub/Sub push delivery of the work subscription, as its documentation describes it (our reading,
// docs/scale.md#pubsub-push): at most `window` messages outstanding; the window starts small and
// grows by one on every acknowledgement (doubling per round) up to the floor, then by 1/window
// while pushes are answered within the latency target; a negative answer halves it, slow answers
// bring it back to the floor. A negative answer also pauses the whole subscription (push backoff,
// doubling from 100 ms to 60 s, reset by an acknowledgement) and the message itself waits for the
// retry policy; its delivery attempts count towards the dead-letter policy, whoever refused it.
import { Fifo, type EventQueue } from './events.ts';
import type { PlanInputs } from './inputs.ts';

export interface WorkMessage {
  /** The batch's users: indices first (inclusive) to end (exclusive). */
  readonly first: number;
  readonly end: number;
  /** Delivery attempts so far, as Pub/Sub counts them. */
  attempts: number;
}

/** Pushes one message to its endpoint; `answer(true)` acknowledges, `answer(false)` refuses. */
export type Endpoint = (message: WorkMessage, answer: (ack: boolean) => void) => void;

export interface PushFigures {
  pushes: number;
  acks: number;
  nacks: number;
  deadLettered: number;
  peakWindow: number;
  peakOutstanding: number;
  pausedMs: number;
}

/** Exponential moving averages over about this many answers. */
const SMOOTHING = 20;

export class PushSubscription {
  private window: number;
  private outstanding = 0;
  private readonly ready = new Fifo<WorkMessage>();
  private pausedUntil = 0;
  private pauses = 0;
  private wakeScheduled = false;
  private meanLatencyMs = 0;
  private ackShare = 1;
  readonly figures: PushFigures;
  private readonly queue: EventQueue;
  private readonly inputs: PlanInputs;
  private readonly endpoint: Endpoint;
  private readonly onDeadLetter: (message: WorkMessage) => void;

  constructor(
    queue: EventQueue,
    inputs: PlanInputs,
    endpoint: Endpoint,
    onDeadLetter: (message: WorkMessage) => void,
  ) {
    this.queue = queue;
    this.inputs = inputs;
    this.endpoint = endpoint;
    this.onDeadLetter = onDeadLetter;
    this.window = inputs.pushWindowStart;
    this.figures = {
      pushes: 0,
      acks: 0,
      nacks: 0,
      deadLettered: 0,
      peakWindow: this.window,
      peakOutstanding: 0,
      pausedMs: 0,
    };
  }

  publish(message: WorkMessage): void {
    this.ready.push(message);
    this.pump();
  }

  private pump(): void {
    const { queue } = this;
    while (this.ready.length > 0 && this.outstanding < Math.floor(this.window)) {
      if (queue.now < this.pausedUntil) {
        if (!this.wakeScheduled) {
          this.wakeScheduled = true;
          queue.at(this.pausedUntil, () => {
            this.wakeScheduled = false;
            this.pump();
          });
        }
        return;
      }
      const message = this.ready.shift()!;
      message.attempts += 1;
      this.outstanding += 1;
      this.figures.pushes += 1;
      this.figures.peakOutstanding = Math.max(this.figures.peakOutstanding, this.outstanding);
      const sentAt = queue.now;
      queue.after(this.inputs.pushMs, () =>
        this.endpoint(message, (ack) => this.answered(message, sentAt, ack)),
      );
    }
  }

  private answered(message: WorkMessage, sentAt: number, ack: boolean): void {
    const { queue, inputs } = this;
    this.outstanding -= 1;
    this.meanLatencyMs += (queue.now - sentAt - this.meanLatencyMs) / SMOOTHING;
    this.ackShare += ((ack ? 1 : 0) - this.ackShare) / SMOOTHING;
    if (ack) {
      this.figures.acks += 1;
      this.pauses = 0;
      const healthy = this.meanLatencyMs < inputs.pushLatencyTargetMs && this.ackShare >= 0.99;
      if (this.window < inputs.pushWindowFloor) this.window += 1;
      else if (healthy) this.window += 1 / this.window;
      else this.window = inputs.pushWindowFloor;
    } else {
      this.figures.nacks += 1;
      this.window = Math.max(1, this.window / 2);
      const pause = Math.min(
        inputs.pushBackoffMaxMs,
        inputs.pushBackoffMinMs * 2 ** Math.min(this.pauses, 30),
      );
      this.pauses += 1;
      const until = Math.max(this.pausedUntil, queue.now + pause);
      this.figures.pausedMs += until - Math.max(this.pausedUntil, queue.now);
      this.pausedUntil = until;
      if (message.attempts >= inputs.maxDeliveryAttempts) {
        this.figures.deadLettered += 1;
        this.onDeadLetter(message);
      } else {
        const waitS = Math.min(inputs.retryMaxS, inputs.retryMinS * 2 ** (message.attempts - 1));
        queue.after(waitS * 1000, () => this.publish(message));
      }
    }
    this.figures.peakWindow = Math.max(this.figures.peakWindow, this.window);
    this.pump();
  }
}

import { RefusalLog } from '../log/refusal-log.js';
import { refusal, type RefusalCode } from '../log/refusals.js';
import type { Scheduler } from '../core/tracker.js';
import type { Logger } from '../log/logger.js';
import type { Receiver } from './webhook-config.js';
import { WebhookQueue, type Batch, type WebhookEvent } from './webhook-queue.js';
import { webhookHeaders } from './webhook-signature.js';

/** Why a try failed: a non-2xx status, no status line within the time limit, or no connection at all. */
export type FailureCause = 'status' | 'timeout' | 'network';
/** Why events were given up on: the queue bound, the retry limit, or shutdown's deadline (refusal codes). */
export type DropReason = Extract<RefusalCode, 'queue_full' | 'expired' | 'shutdown'>;

/** What delivery reports (the metrics implement it). Times in seconds. */
export interface DeliveryObserver {
  delivered(receiver: Receiver, events: number, latencySeconds: number, requestSeconds: number): void;
  failed(receiver: Receiver, cause: FailureCause): void;
  retried(receiver: Receiver): void;
  dropped(receiver: Receiver, events: number, reason: DropReason): void;
}

export interface DeliveryOptions {
  receiver: Receiver;
  maxQueue: number;
  retryForMs: number;
  backoffMs: number;
  maxBackoffMs: number;
  timeoutMs: number;
  scheduler: Scheduler;
  now: () => number;
  /** In [0, 1): the jitter. */
  random: () => number;
  log: Logger;
  observer: DeliveryObserver;
}

interface Try {
  batch: Batch;
  /** When the batch was first tried (ms): the retry limit runs from here. */
  firstTry: number;
  tries: number;
}

/**
 * Delivery to one receiver: at least once, in order, one batch in flight. A failed try is retried with
 * exponential backoff and jitter (the delay doubles per consecutive failure of the receiver, from
 * `backoffMs` up to `maxBackoffMs`, each delay drawn from its upper half) until the batch has been tried
 * for `retryForMs`; then it is dropped and the next one goes. The backoff belongs to the receiver, not
 * the batch, so dropping batches never makes a dead receiver hammered faster.
 *
 * `accept` only queues (synchronously): presence never waits for a receiver.
 */
export class WebhookDelivery {
  readonly queue: WebhookQueue;
  private current: Try | undefined;
  private sending = false;
  private retryTimer: unknown;
  /** Consecutive failed tries, reset by a delivery. */
  private failures = 0;
  /** Set at shutdown: when the last chance ends. */
  private closing: { deadline: number } | undefined;
  /** Aborted when shutdown gives up: ends a try in flight and refuses new events. */
  private readonly stopped = new AbortController();
  private idle: (() => void)[] = [];
  private readonly dropLog: RefusalLog;

  constructor(private readonly options: DeliveryOptions) {
    const { receiver, log, observer } = options;
    this.dropLog = new RefusalLog(log, 1, options.now);
    this.queue = new WebhookQueue({
      maxEvents: options.maxQueue,
      scheduler: options.scheduler,
      now: options.now,
      onSealed: () => this.pump(),
      onDropped: (batches) => {
        const events = batches.reduce((sum, b) => sum + b.events, 0);
        observer.dropped(receiver, events, 'queue_full');
        this.dropLog.warn('webhook queue full: the oldest batches were dropped', refusal('queue_full', `over ${options.maxQueue} queued events`), {
          receiver: receiver.index,
          host: receiver.host,
          batches: batches.length,
          events,
          maxQueue: options.maxQueue,
        });
      },
    });
  }

  get receiver(): Receiver {
    return this.options.receiver;
  }

  /** Whether the receiver takes events of this action (its `events` filter). */
  wants(action: string): boolean {
    return !this.stopped.signal.aborted && (this.options.receiver.actions?.has(action) ?? true);
  }

  /** Queues one event (JSON text) the receiver wants. */
  accept(event: WebhookEvent): void {
    if (!this.stopped.signal.aborted) this.queue.push(event);
  }

  /**
   * Shutdown: seals what is being gathered, tries a batch waiting for its retry at once, and keeps
   * delivering until everything is out or `graceMs` has passed; then the rest is dropped (logged, counted).
   */
  close(graceMs: number): Promise<void> {
    this.closing ??= { deadline: this.options.now() + graceMs };
    if (graceMs <= 0) {
      this.giveUp();
      return Promise.resolve();
    }
    this.queue.flush();
    if (this.retryTimer !== undefined) {
      this.options.scheduler.clear(this.retryTimer);
      this.retryTimer = undefined;
    }
    this.pump();
    return new Promise((resolve) => {
      const deadline = this.options.scheduler.set(() => this.giveUp(), Math.max(0, this.closing!.deadline - this.options.now()));
      const done = () => {
        this.options.scheduler.clear(deadline);
        resolve();
      };
      if (this.queue.length === 0 && !this.sending) done();
      else this.idle.push(done);
    });
  }

  private giveUp(): void {
    this.stopped.abort();
    if (this.retryTimer !== undefined) this.options.scheduler.clear(this.retryTimer);
    this.retryTimer = undefined;
    const left = this.queue.clear();
    if (left > 0) {
      this.options.observer.dropped(this.options.receiver, left, 'shutdown');
      this.options.log.warn('webhook events not delivered before shutdown', { receiver: this.receiver.index, host: this.receiver.host, events: left, code: 'shutdown' });
    }
    this.current = undefined;
    for (const wake of this.idle.splice(0)) wake();
  }

  /** Sends the head batch unless one is in flight or waiting for its retry. */
  private pump(): void {
    if (this.sending || this.retryTimer !== undefined) return;
    const batch = this.queue.head(true);
    if (!batch) {
      for (const wake of this.idle.splice(0)) wake();
      return;
    }
    if (this.current?.batch !== batch) this.current = { batch, firstTry: this.options.now(), tries: 0 };
    const current = this.current;
    if (current.tries++ > 0) this.options.observer.retried(this.options.receiver);
    this.sending = true;
    const started = this.options.now();
    void this.post(batch).then((failure) => {
      this.sending = false;
      if (this.stopped.signal.aborted) return;
      if (failure) this.failed(current, failure);
      else this.delivered(current, started);
    });
  }

  private delivered({ batch }: Try, started: number): void {
    const { receiver, observer, log, now } = this.options;
    const at = now();
    if (this.failures > 0) log.info('webhook receiver is back', { receiver: receiver.index, host: receiver.host, failedTries: this.failures });
    this.failures = 0;
    if (this.queue.settle(batch)) observer.delivered(receiver, batch.events, (at - batch.since) / 1000, (at - started) / 1000);
    this.pump();
  }

  private failed(current: Try, failure: { cause: FailureCause; detail: string | number }): void {
    const { receiver, observer, log, now } = this.options;
    observer.failed(receiver, failure.cause);
    this.queue.release(current.batch);
    const fields = { receiver: receiver.index, host: receiver.host, batch: current.batch.id, cause: failure.cause, detail: failure.detail };
    if (this.failures++ === 0) log.warn('webhook delivery failed; retrying with backoff', fields);
    else log.debug('webhook delivery failed again', { ...fields, failedTries: this.failures });
    const delay = this.backoff();
    const at = now();
    if (at + delay - current.firstTry > this.options.retryForMs && this.queue.settle(current.batch)) {
      observer.dropped(receiver, current.batch.events, 'expired');
      log.warn('webhook batch dropped: retried for too long', { ...fields, events: current.batch.events, tries: current.tries, code: 'expired' });
      if (this.closing && this.queue.length === 0) return this.pump();
    }
    if (this.closing && at + delay > this.closing.deadline) return this.giveUp();
    this.retryTimer = this.options.scheduler.set(() => {
      this.retryTimer = undefined;
      this.pump();
    }, delay);
  }

  /** The next delay: base `backoffMs * 2^(failures-1)` capped at `maxBackoffMs`, jittered within its upper half. */
  private backoff(): number {
    const { backoffMs, maxBackoffMs, random } = this.options;
    const base = Math.min(maxBackoffMs, backoffMs * 2 ** Math.min(this.failures - 1, 30));
    return Math.round(base / 2 + (random() * base) / 2);
  }

  /** One try; resolves to the failure, or undefined on a 2xx answer. Never rejects. */
  private async post(batch: Batch): Promise<{ cause: FailureCause; detail: string | number } | undefined> {
    const { receiver, timeoutMs, now } = this.options;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = AbortSignal.any([timeout, this.stopped.signal]);
    try {
      const response = await fetch(receiver.url, {
        method: 'POST',
        headers: webhookHeaders(batch.body, receiver.secret, now()),
        body: batch.body,
        signal,
        // A redirect is an answer that is not 2xx: a receiver's URL is configured, not discovered.
        redirect: 'manual',
      });
      // The receiver's answer body is not read: it could be of any size, and only the status counts.
      await response.body?.cancel().catch(() => {});
      return response.status >= 200 && response.status < 300 ? undefined : { cause: 'status', detail: response.status };
    } catch (error) {
      const err = error as Error & { cause?: { code?: string; message?: string } };
      if (timeout.aborted) return { cause: 'timeout', detail: `no answer within ${timeoutMs} ms` };
      return { cause: 'network', detail: err.cause?.code ?? err.cause?.message ?? err.message };
    }
  }
}

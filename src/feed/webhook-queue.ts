import { randomUUID } from 'node:crypto';
import type { Scheduler } from '../core/tracker.js';
import { BATCH_MAX_EVENTS, BATCH_MAX_WAIT_MS } from './webhook-config.js';

/**
 * One event as a receiver gets it, already as JSON text: `{"type":"user"|"group", ...the payload}`.
 * Serialized once per event, whatever the number of receivers.
 */
export type WebhookEvent = string;

/** A sealed batch: its body is fixed once, so every try sends the same bytes and the same `id`. */
export interface Batch {
  id: string;
  events: number;
  body: string;
  /** When its first event was queued (ms, the queue's clock): delivery latency runs from here. */
  since: number;
}

export interface QueueOptions {
  /** Events held in all (sealed, being filled); beyond it the oldest sealed batches not in flight go. */
  maxEvents: number;
  scheduler: Scheduler;
  now: () => number;
  /** A batch was sealed and waits at the tail. */
  onSealed: () => void;
  /** Batches dropped to stay under `maxEvents`, oldest first. */
  onDropped: (dropped: Batch[]) => void;
}

/**
 * One receiver's ordered, bounded queue: events are gathered into a batch that is sealed when it holds
 * BATCH_MAX_EVENTS or BATCH_MAX_WAIT_MS after its first event, whichever comes first. Everything here
 * is synchronous and O(1) per event (amortized), so the event path never waits on a receiver.
 *
 * The head batch may be in flight (`head(true)`): it is never dropped for room, since its fate is being
 * decided; the next oldest go instead. With `maxEvents` at least two full batches, there always is one.
 */
export class WebhookQueue {
  private readonly sealed: Batch[] = [];
  private open: WebhookEvent[] = [];
  private openSince = 0;
  private lingering: unknown;
  private inFlight: Batch | undefined;
  private held = 0;

  constructor(private readonly options: QueueOptions) {}

  /** Events held: queued, in flight, and being gathered. */
  get length(): number {
    return this.held;
  }

  /** Sealed batches waiting or in flight. */
  get batches(): number {
    return this.sealed.length;
  }

  push(event: WebhookEvent): void {
    if (this.open.length === 0) {
      this.openSince = this.options.now();
      this.lingering = this.options.scheduler.set(() => this.seal(), BATCH_MAX_WAIT_MS);
    }
    this.open.push(event);
    this.held++;
    if (this.open.length >= BATCH_MAX_EVENTS) this.seal();
    else this.makeRoom();
  }

  /** Seals what is being gathered now (shutdown: nothing waits for the 250 ms). */
  flush(): void {
    if (this.open.length > 0) this.seal();
  }

  /** The oldest sealed batch; marked in flight (never dropped for room) when `sending`. */
  head(sending = false): Batch | undefined {
    const batch = this.sealed[0];
    if (sending && batch) this.inFlight = batch;
    return batch;
  }

  /** Removes `batch` if it is still the head (delivered, or given up on); false when it was dropped meanwhile. */
  settle(batch: Batch): boolean {
    if (this.inFlight === batch) this.inFlight = undefined;
    if (this.sealed[0] !== batch) return false;
    this.sealed.shift();
    this.held -= batch.events;
    return true;
  }

  /** Releases the in-flight mark after a failed try (the batch stays at the head, droppable again). */
  release(batch: Batch): void {
    if (this.inFlight === batch) this.inFlight = undefined;
  }

  /** Empties the queue; returns what it held (shutdown's leftovers). */
  clear(): number {
    const held = this.held;
    if (this.lingering !== undefined) this.options.scheduler.clear(this.lingering);
    this.lingering = undefined;
    this.sealed.length = this.held = 0;
    this.open = [];
    this.inFlight = undefined;
    return held;
  }

  private seal(): void {
    if (this.lingering !== undefined) this.options.scheduler.clear(this.lingering);
    this.lingering = undefined;
    if (this.open.length === 0) return;
    const events = this.open;
    this.open = [];
    const id = randomUUID();
    this.sealed.push({ id, events: events.length, body: `{"id":${JSON.stringify(id)},"events":[${events.join(',')}]}`, since: this.openSince });
    this.makeRoom();
    this.options.onSealed();
  }

  private makeRoom(): void {
    if (this.held <= this.options.maxEvents) return;
    const dropped: Batch[] = [];
    // Only sealed batches go, oldest first, skipping one in flight at the head.
    let at = 0;
    while (this.held > this.options.maxEvents && at < this.sealed.length) {
      const batch = this.sealed[at]!;
      if (batch === this.inFlight) {
        at++;
        continue;
      }
      this.sealed.splice(at, 1);
      this.held -= batch.events;
      dropped.push(batch);
    }
    if (dropped.length > 0) this.options.onDropped(dropped);
  }
}

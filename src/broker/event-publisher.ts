import type { Aedes, AedesPublishPacket } from 'aedes';
import type { PresenceEvent } from '../core/events.js';
import type { Logger } from '../log.js';
import type { Topics } from '../topics.js';

/**
 * Publishes presence events into the broker in order, pipelined.
 *
 * Order matters because aedes de-duplicates per subscriber by broker counter: a packet reaching a
 * client after one with a higher counter is dropped. aedes stores a retained packet asynchronously
 * before handing it to its emitter, so a retained user event followed at once by a plain group event
 * can overtake it, and a watcher of both topics would lose the user event.
 *
 * Waiting for each publish to *complete* fixes that but costs at least two event-loop turns per event
 * (aedes defers every delivery and its callback with setImmediate), so under load events queue up for
 * seconds (benchmark scenario 5, docs/benchmarks.md). What actually fixes the order is narrower: the
 * next event may go as soon as the previous one has been *emitted* to subscribers, since aedes
 * checks the counter synchronously there and queues the writes in emit order. An internal listener on
 * the product's own event topics sees that moment.
 */
export class EventPublisher {
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;
  private idle: (() => void)[] = [];
  /** Payload of an in-flight publish -> resolves its "emitted" wait. Payloads are fresh per event. */
  private readonly emitting = new Map<Buffer, () => void>();
  published = 0;

  constructor(
    private readonly broker: Aedes,
    private readonly topics: Topics,
    private readonly log: Logger,
    private readonly onPublished: (event: PresenceEvent) => void = () => {},
  ) {
    const seen = (packet: AedesPublishPacket, done: () => void) => {
      const payload = packet.payload as Buffer;
      const resolve = this.emitting.get(payload);
      if (resolve) {
        this.emitting.delete(payload);
        resolve();
      }
      done();
    };
    for (const filter of [`${topics.prefix}/user/+`, `${topics.prefix}/group/+`]) broker.subscribe(filter, seen, () => {});
  }

  publish(events: PresenceEvent[]): void {
    for (const event of events) {
      this.pending++;
      this.tail = this.tail.then(() => this.publishOne(event));
    }
  }

  /** Resolves when everything handed over so far has been published (delivered or failed). */
  drained(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  get backlog(): number {
    return this.pending;
  }

  /** Starts one publish; resolves once it has been emitted (or has failed), not when delivered. */
  private publishOne(event: PresenceEvent): Promise<void> {
    const topic = event.kind === 'user' ? this.topics.user(event.event.id) : this.topics.group(event.event.groupId);
    const payload = Buffer.from(JSON.stringify(event.event));
    return new Promise((emitted) => {
      this.emitting.set(payload, emitted);
      this.broker.publish(
        { cmd: 'publish', topic, payload, qos: 1, retain: event.kind === 'user', dup: false },
        (error) => {
          // Normally already emitted; on an early failure this releases the queue.
          this.emitting.delete(payload);
          emitted();
          if (error) this.log.error('publishing a presence event failed', { topic, error });
          else {
            this.published++;
            this.onPublished(event);
          }
          if (--this.pending === 0) for (const resolve of this.idle.splice(0)) resolve();
        },
      );
    });
  }
}

import type { Aedes, AedesPublishPacket } from 'aedes';
import type { FeedEvent } from './intervals.js';
import type { Logger } from '../log/logger.js';
import type { Topics } from '../topics.js';

/**
 * Hands one QoS 1 packet to a broker. `ordered` fires once a packet handed over later can no longer
 * overtake this one; `done` once the broker has it (aedes: stored and routed; mqtt.js: PUBACK).
 */
export type SendPacket = (
  topic: string,
  payload: Buffer,
  retain: boolean,
  ordered: () => void,
  done: (error?: Error | null) => void,
) => void;

/**
 * `SendPacket` for an embedded aedes broker.
 *
 * aedes de-duplicates per subscriber by broker counter: a packet reaching a client after one with a
 * higher counter is dropped. It stores a retained packet asynchronously before handing it to its
 * emitter, so a retained user event followed at once by a plain group event can overtake it, and a
 * watcher of both topics would lose the user event. Waiting for each publish to complete fixes that
 * but costs at least two event-loop turns per event (aedes defers deliveries and callbacks), so under
 * load events queue up for seconds (docs/benchmarks.md, scenario 5). The next event may safely go as
 * soon as the previous one has been *emitted* to subscribers: aedes checks the counter synchronously
 * there and queues writes in emit order. An internal listener on the product's event topics sees that.
 */
export function aedesSender(broker: Aedes, topics: Topics): SendPacket {
  // Payload buffer of an in-flight publish -> its "emitted" callback. Payloads are fresh per event.
  const emitting = new Map<Buffer, () => void>();
  const seen = (packet: AedesPublishPacket, done: () => void) => {
    const payload = packet.payload as Buffer;
    const ordered = emitting.get(payload);
    if (ordered) {
      emitting.delete(payload);
      ordered();
    }
    done();
  };
  for (const filter of [`${topics.prefix}/user/+`, `${topics.prefix}/group/+`]) broker.subscribe(filter, seen, () => {});
  return (topic, payload, retain, ordered, done) => {
    emitting.set(payload, ordered);
    broker.publish({ cmd: 'publish', topic, payload, qos: 1, retain, dup: false }, (error) => {
      // Normally already emitted; on an early failure this releases the queue.
      if (emitting.delete(payload)) ordered();
      done(error);
    });
  };
}

/**
 * Publishes presence events in order, pipelined: each waits only until the previous one is `ordered`,
 * not until it is delivered.
 */
export class EventPublisher {
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;
  private idle: (() => void)[] = [];
  private readonly observers: ((event: FeedEvent) => void)[] = [];
  published = 0;

  constructor(
    private readonly send: SendPacket,
    private readonly topics: Topics,
    private readonly log: Logger,
    private readonly onPublished: (event: FeedEvent) => void = () => {},
  ) {}

  /**
   * Also hands every event to `observer` (webhooks), synchronously and in publish order, as it is handed
   * to the broker: observers see exactly what is published, whether or not the broker takes it.
   */
  observe(observer: (event: FeedEvent) => void): void {
    this.observers.push(observer);
  }

  publish(events: FeedEvent[]): void {
    for (const event of events) {
      for (const observer of this.observers) observer(event);
      this.pending++;
      this.tail = this.tail.then(() => this.publishOne(event));
    }
  }

  /** Resolves when everything handed over so far has been published (delivered or failed). */
  drained(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** Starts one publish; resolves once later ones can no longer overtake it. */
  private publishOne(event: FeedEvent): Promise<void> {
    const topic = event.kind === 'user' ? this.topics.user(event.event.id) : this.topics.group(event.event.groupId);
    const payload = Buffer.from(JSON.stringify(event.event));
    return new Promise((ordered) => {
      this.send(topic, payload, event.kind === 'user', ordered, (error) => {
        if (error) this.log.error('publishing a presence event failed', { topic, error });
        else {
          this.published++;
          this.onPublished(event);
        }
        if (--this.pending === 0) for (const resolve of this.idle.splice(0)) resolve();
      });
    });
  }
}

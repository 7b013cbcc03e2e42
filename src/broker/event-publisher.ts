import type { Aedes } from 'aedes';
import type { PresenceEvent } from '../core/events.js';
import type { Logger } from '../log.js';
import type { Topics } from '../topics.js';

/**
 * Hands one QoS 1 packet to a broker (aedes in serve mode, an mqtt.js client in attach mode) and calls
 * `done` once the broker has it (aedes: stored and routed; mqtt.js: PUBACK received).
 */
export type SendPacket = (topic: string, payload: Buffer, retain: boolean, done: (error?: Error | null) => void) => void;

/** `SendPacket` for an embedded aedes broker. */
export function aedesSender(broker: Aedes): SendPacket {
  return (topic, payload, retain, done) =>
    broker.publish({ cmd: 'publish', topic, payload, qos: 1, retain, dup: false }, (error) => done(error));
}

/**
 * Publishes presence events into the broker strictly one after another. aedes stores a retained packet
 * asynchronously, so a retained user event followed at once by a plain group event can overtake it,
 * and aedes' per-subscriber de-duplication then drops the late one for a watcher of both topics.
 * Waiting for each publish to complete keeps every watcher's view in order and complete.
 */
export class EventPublisher {
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;
  published = 0;

  constructor(
    private readonly send: SendPacket,
    private readonly topics: Topics,
    private readonly log: Logger,
    private readonly onPublished: (event: PresenceEvent) => void = () => {},
  ) {}

  publish(events: PresenceEvent[]): void {
    for (const event of events) {
      this.pending++;
      this.tail = this.tail.then(() => this.publishOne(event));
    }
  }

  /** Resolves when everything handed over so far has been published. */
  drained(): Promise<void> {
    return this.tail;
  }

  get backlog(): number {
    return this.pending;
  }

  private publishOne(event: PresenceEvent): Promise<void> {
    const topic = event.kind === 'user' ? this.topics.user(event.event.id) : this.topics.group(event.event.groupId);
    return new Promise((resolve) => {
      this.send(topic, Buffer.from(JSON.stringify(event.event)), event.kind === 'user', (error) => {
        this.pending--;
        if (error) this.log.error('publishing a presence event failed', { topic, error });
        else {
          this.published++;
          this.onPublished(event);
        }
        resolve();
      });
    });
  }
}

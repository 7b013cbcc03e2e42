import type { MqttClient } from 'mqtt';
import type { Logger } from '../log/logger.js';

/**
 * What the bridge writes to the broker besides events: its status, and repairs of the retained
 * announcements (clearing processed ones, putting back the truth where a message replaced it).
 */
export class BrokerWriter {
  /** Copies restored and not yet heard back, per topic, oldest first (the bridge reads every topic it restores). */
  private readonly copies = new Map<string, Buffer[]>();

  constructor(
    private readonly client: MqttClient,
    private readonly log: Logger,
    /** True once the bridge is stopping: a failed publish is expected then and not logged. */
    private readonly closing: () => boolean,
  ) {}

  /** QoS 1; resolves when the broker acknowledged it or it failed (logged). */
  publish(topic: string, payload: Buffer, retain: boolean): Promise<void> {
    return new Promise((resolve) => {
      this.client.publish(topic, payload, { qos: 1, retain }, (error) => {
        if (error && !this.closing()) this.log.warn('publish to the broker failed', { topic, error: error.message });
        resolve();
      });
    });
  }

  /**
   * Clears a processed retained announcement, at most once: one lost with the link is harmless, since
   * the next resync finds and clears whatever is still there.
   */
  clear(topic: string): void {
    // QoS 0 and never queued: a clear resent after a reconnect could wipe a birth made meanwhile.
    if (this.client.connected) this.client.publish(topic, EMPTY, { qos: 0, retain: true });
  }

  /**
   * Republishes what the bridge holds as true for a topic whose retained copy was lost or replaced. The
   * bridge hears the copy back like any message, possibly after the topic has moved on (a client that
   * reconnects fast can end many epochs first): `ownCopy` tells it apart from a client's message.
   */
  restore(topic: string, payload: Buffer, why: string): void {
    this.log.info('restoring a retained announcement', { topic, why });
    const pending = this.copies.get(topic) ?? [];
    pending.push(payload);
    this.copies.delete(topic);
    this.copies.set(topic, pending.slice(-MAX_COPIES_PER_TOPIC));
    if (this.copies.size > MAX_COPY_TOPICS) this.copies.delete(this.copies.keys().next().value!);
    void this.publish(topic, payload, true);
  }

  /**
   * True (once per copy) when `payload` on `topic` is a copy this writer restored, heard back: not a
   * client's announcement, so never a new connection nor a new membership.
   */
  ownCopy(topic: string, payload: Buffer): boolean {
    const pending = this.copies.get(topic);
    const at = pending?.findIndex((copy) => copy.equals(payload)) ?? -1;
    if (at < 0) return false;
    pending!.splice(at, 1);
    if (pending!.length === 0) this.copies.delete(topic);
    return true;
  }
}

/**
 * Bounds on copies awaited (a copy the broker never delivers back must not be kept for ever). They are
 * kept across a dropped link: mqtt.js may send an unacknowledged copy again after reconnecting. One a
 * client happens to repeat byte for byte is a replay of a birth the bridge held live, which changes
 * nothing, or of an ended one, which is stale either way.
 */
const MAX_COPIES_PER_TOPIC = 8;
const MAX_COPY_TOPICS = 10_000;

const EMPTY = Buffer.alloc(0);

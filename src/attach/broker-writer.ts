import type { MqttClient } from 'mqtt';
import type { Logger } from '../log/logger.js';

/**
 * What the bridge writes to the broker besides events: its status, and repairs of the retained
 * announcements (clearing processed ones, putting back the truth where a message replaced it).
 */
export class BrokerWriter {
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

  /** Republishes what the bridge holds as true for a topic whose retained copy was lost or replaced. */
  restore(topic: string, payload: Buffer, why: string): void {
    this.log.info('restoring a retained announcement', { topic, why });
    void this.publish(topic, payload, true);
  }
}

const EMPTY = Buffer.alloc(0);

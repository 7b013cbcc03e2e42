import { randomUUID } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import type { Logger } from '../log/logger.js';

/**
 * What the bridge writes to the broker besides events: its status, and repairs of the retained
 * announcements (clearing processed ones, putting back the truth where a message replaced it).
 */
export class BrokerWriter {
  /** Copies restored and not yet heard back: per topic, copy id -> the payload restored (untagged). */
  private readonly copies = new Map<string, Map<string, Buffer>>();

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
   * reconnects fast can end many epochs first), and a client may publish the very same bytes meanwhile
   * (every join is alike, and so are births without an epoch). So the copy carries a field of its own,
   * `"copy": "<id>"` (docs/protocol.md; other readers take it as the same announcement), and `ownCopy`
   * knows it by that id.
   */
  restore(topic: string, payload: Buffer, why: string): void {
    this.log.info('restoring a retained announcement', { topic, why });
    const id = randomUUID();
    const tagged = withCopyId(payload, id);
    if (tagged) {
      let pending = this.copies.get(topic);
      if (!pending) this.copies.set(topic, (pending = new Map()));
      pending.set(id, payload);
      if (pending.size > MAX_COPIES_PER_TOPIC) pending.delete(pending.keys().next().value!);
      if (this.copies.size > MAX_COPY_TOPICS) this.copies.delete(this.copies.keys().next().value!);
    }
    void this.publish(topic, tagged ?? payload, true);
  }

  /**
   * For a copy this writer restored, heard back: the payload it was restored from (once per copy). For
   * anything else, a client's message included, undefined.
   */
  ownCopy(topic: string, payload: Buffer): Buffer | undefined {
    const pending = this.copies.get(topic);
    if (!pending) return undefined;
    const id = copyIdOf(payload);
    const source = id === undefined ? undefined : pending.get(id);
    if (!source) return undefined;
    pending.delete(id!);
    if (pending.size === 0) this.copies.delete(topic);
    return source;
  }

  /**
   * The link dropped: no copy comes back live any more. One the broker already had, or that mqtt.js sends
   * again before the next CONNACK is handled, is read by the resync as retained, like any announcement.
   */
  forgetCopies(): void {
    this.copies.clear();
  }
}

/** Bounds on copies awaited (a copy the broker never delivers back must not be kept for ever). */
const MAX_COPIES_PER_TOPIC = 8;
const MAX_COPY_TOPICS = 10_000;
const COPY_FIELD = 'copy';
const COPY_MARK = Buffer.from(`"${COPY_FIELD}"`);

/** `payload` (a JSON object) with the copy's id added; undefined for anything else. */
function withCopyId(payload: Buffer, id: string): Buffer | undefined {
  try {
    const value: unknown = JSON.parse(payload.toString());
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    return Buffer.from(JSON.stringify({ ...value, [COPY_FIELD]: id }));
  } catch {
    return undefined;
  }
}

function copyIdOf(payload: Buffer): string | undefined {
  if (!payload.includes(COPY_MARK)) return undefined;
  try {
    const id = (JSON.parse(payload.toString()) as Record<string, unknown>)[COPY_FIELD];
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

const EMPTY = Buffer.alloc(0);

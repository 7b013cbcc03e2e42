import { randomUUID } from 'node:crypto';
import type { Refusal } from '../log/refusals.js';
import type { MqttClient } from 'mqtt';
import type { PresenceTracker } from '../core/tracker.js';
import type { Logger } from '../log/logger.js';
import type { Topics } from '../topics.js';
import type { RetainedMirror } from './mirror.js';
import { UPTIME_TOPIC, type RebirthWatch } from './rebirth.js';
import type { BrokerWriter } from './broker-writer.js';
import { buildResync, type Resync } from './snapshot.js';

export interface ResyncDeps {
  client: MqttClient;
  tracker: PresenceTracker;
  topics: Topics;
  log: Logger;
  mirror: RetainedMirror;
  rebirth: RebirthWatch;
  writer: BrokerWriter;
  /** The bridge's own topic for the sentinel message (`<status topic>/sync`). */
  sentinelTopic: string;
  /** The largest `data` an announcement may carry, in bytes (JSON). */
  maxDataBytes: number;
  /** Counts and labels an invalid announcement (the announcement handler's). */
  drop(topic: string, refusal: Refusal): void;
  /** Told once the new truth is applied (its events queued in the tracker). */
  onApplied(resync: Resync): void;
}

/**
 * The resync after every CONNACK: subscribe, collect the retained announcements and user events, and
 * know they are all in when our own sentinel message comes back (a broker delivers to one subscriber
 * in order). Then each user is settled against the new truth in one step (`PresenceTracker.resync`).
 * Until then messages are only collected, the last one per topic.
 */
export class ResyncRun {
  /** Messages collected during a resync, last one per topic; undefined when live. */
  private collecting: Map<string, Buffer> | undefined = new Map();
  private sentinel = '';
  /** Announcement topics whose retained birth was cleared while collecting; restored after. */
  private lost = new Set<string>();

  constructor(private readonly deps: ResyncDeps) {}

  /** True once the last resync finished (until the link drops). */
  get live(): boolean {
    return this.collecting === undefined;
  }

  /** The link dropped: collect again from the next CONNACK. Returns whether it was live. */
  linkLost(): boolean {
    const wasLive = this.live;
    this.collecting = new Map();
    return wasLive;
  }

  start(): void {
    const { topics, client, log, rebirth, sentinelTopic } = this.deps;
    this.collecting = new Map();
    this.lost = new Set();
    this.sentinel = randomUUID();
    rebirth.resyncStarted();
    const sentinel = this.sentinel;
    const filters = [
      `${topics.prefix}/conn/#`,
      `${topics.prefix}/member/#`,
      `${topics.prefix}/query/+`,
      `${topics.prefix}/user/+`,
      sentinelTopic,
      ...rebirth.filters,
    ];
    // QoS 0 on purpose. Mosquitto queues at most max_queued_messages (1000) QoS 1 messages per client
    // and silently drops the rest, retained ones at SUBSCRIBE included; QoS 0 has no such limit. Nothing
    // is lost by it: within a connection TCP delivers, and a broken connection is followed by a resync.
    // Queries come at QoS 0 too, so they reach us in order with the announcements published before
    // them (a broker may hold back QoS 1 deliveries past its in-flight window, but not QoS 0 ones).
    client.subscribe(filters, { qos: 0 }, (error, granted) => {
      // $SYS is Mosquitto's: another broker may refuse it, and the marker alone tells a restart then.
      const refused = granted?.filter((g) => g.qos === 128 && g.topic !== UPTIME_TOPIC).map((g) => g.topic) ?? [];
      if (error || refused.length > 0) {
        log.error('the broker refused the bridge its subscriptions; check its ACL', { filters: refused, error: error?.message });
        return;
      }
      if (sentinel !== this.sentinel) return;
      // Retained messages are queued to us at SUBSCRIBE; our sentinel comes back after all of them.
      client.publish(sentinelTopic, Buffer.from(sentinel), { qos: 1, retain: false });
    });
  }

  /** Takes a message while a resync runs (true), or leaves it to live processing (false). */
  collect(topic: string, payload: Buffer): boolean {
    const collecting = this.collecting;
    if (!collecting) return false;
    if (topic === this.deps.sentinelTopic) {
      if (payload.toString() === this.sentinel) this.finish(collecting);
      return true;
    }
    // A clear sent before the link dropped can land after a new birth; the birth stays the truth.
    if (payload.length === 0 && collecting.has(topic) && this.deps.topics.parse(topic).kind === 'conn') {
      this.lost.add(topic);
      return true;
    }
    collecting.set(topic, payload);
    return true;
  }

  private finish(collected: Map<string, Buffer>): void {
    const { topics, log, tracker, mirror, writer, client } = this.deps;
    this.collecting = undefined;
    client.unsubscribe(`${topics.prefix}/user/+`);
    const resync = buildResync(collected, topics, mirror, this.deps.maxDataBytes);
    for (const { topic, refusal } of resync.dropped) this.deps.drop(topic, refusal);
    this.deps.rebirth.afterResync(resync.births, mirror, () => mirror, log, (topic, birth) => {
      void tracker.connectionDown({ userId: birth.userId, connectionId: birth.clientId, reason: 'broker_restart', epoch: birth.epoch });
      writer.clear(topic);
    });
    mirror.replace(resync.births, resync.members);
    for (const user of resync.users) void tracker.resync(user);
    for (const topic of resync.clear) writer.clear(topic);
    for (const topic of this.lost) {
      const birth = resync.births.get(topic);
      if (birth) writer.restore(topic, birth.payload, 'a retained birth was cleared during the resync');
    }
    this.deps.onApplied(resync);
  }
}

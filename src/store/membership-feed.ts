import type { Redis } from 'ioredis';
import type { Membership } from '../auth/policy.js';
import type { GroupEvent, PresenceEvent } from '../core/events.js';
import type { Logger } from '../log/logger.js';
import { compile } from '../schemas/ajv.js';
import { OrderedMembership, type MembershipChange } from './membership-order.js';
import type { RedisStore } from './redis-store.js';

/** The `$SYS` topic (aedes' own convention, `$SYS/<broker id>/...`) a node's membership changes cross on. */
export const membershipTopic = (nodeId: string): string => `$SYS/${nodeId}/memberships`;

/** What this file needs of mqemitter-redis: its public `on` (with a subscribed callback) and `emit`. */
export interface MembershipEmitter {
  on(topic: string, fn: (packet: { topic: string; payload: unknown }, done: () => void) => void, subscribed?: () => void): unknown;
  emit(packet: { topic: string; payload: Buffer }, done?: (error?: Error) => void): unknown;
}

/** The wire shape: `{"changes":[{"u":user,"g":group,"s":seq,"m":member}]}`. */
interface Wire {
  changes: { u: string; g: string; s: number; m: boolean }[];
}

const checkWire = compile<Wire>({
  type: 'object',
  properties: {
    changes: {
      type: 'array',
      maxItems: 100_000,
      items: {
        type: 'object',
        properties: { u: { type: 'string' }, g: { type: 'string' }, s: { type: 'integer', minimum: 0 }, m: { type: 'boolean' } },
        required: ['u', 'g', 's', 'm'],
        additionalProperties: false,
      },
    },
  },
  required: ['changes'],
  additionalProperties: false,
});

export interface MembershipFeedOptions {
  membership: Membership;
  mq: MembershipEmitter;
  /** mqemitter-redis' subscriber connection: a reconnect may have lost changes, so it triggers a resync. */
  subscriber: Pick<Redis, 'on'>;
  store: Pick<RedisStore, 'scanMemberships'>;
  nodeId: string;
  log: Logger;
}

/**
 * Keeps a cluster node's policy mirror (`Membership`, src/auth/policy.ts) equal to the cluster's
 * memberships (docs/cluster.md, "Memberships on every node"). The store stays the one owner; this only
 * mirrors it:
 * - `local(events)`: this node's committed joins and leaves (the tracker's sink, in commit order) are
 *   applied at once and sent to the other nodes on `$SYS/<node>/memberships` through aedes' emitter
 *   (mqemitter-redis), ahead of the public events of the same changes on the same connection, so a
 *   node that has delivered a join or leave event has applied it. Interval mode changes nothing here:
 *   the changes are sent whether or not their public events are kept for the interval leader;
 * - the other nodes' changes are applied as they arrive, ordered by each user's `seq`
 *   (membership-order.ts);
 * - `start()` (before the node listens) subscribes, then loads every stored record
 *   (`RedisStore.scanMemberships`); every later reconnect of the subscriber (Redis pub/sub drops what
 *   it cannot deliver) loads them again.
 */
export class MembershipFeed {
  private readonly ordered: OrderedMembership;
  private readonly ownTopic: string;
  private started = false;
  private scanning: Promise<void> | undefined;
  private again = false;

  constructor(private readonly options: MembershipFeedOptions) {
    this.ordered = new OrderedMembership(options.membership);
    this.ownTopic = membershipTopic(options.nodeId);
  }

  /** This node's events (the tracker's sink): applies their joins and leaves and sends them on. */
  local(events: readonly PresenceEvent[]): void {
    const changes: MembershipChange[] = [];
    for (const e of events) {
      if (e.kind !== 'group') continue;
      const change = changeOf(e.event);
      if (!change) continue;
      this.ordered.apply(change);
      changes.push(change);
    }
    if (changes.length === 0) return;
    const wire: Wire = { changes: changes.map((c) => ({ u: c.userId, g: c.groupId, s: c.seq, m: c.member })) };
    this.options.mq.emit({ topic: this.ownTopic, payload: Buffer.from(JSON.stringify(wire)) }, (error) => {
      if (error) this.options.log.warn('could not send membership changes to the cluster', { error: error.message });
    });
  }

  /** Subscribes to the other nodes' changes, then loads the stored memberships. */
  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.options.mq.on(membershipTopic('+'), (packet, done) => this.received(packet, done), resolve));
    this.options.subscriber.on('ready', () => {
      if (this.started) void this.resync();
    });
    await this.resync();
    this.started = true;
  }

  /** Loads every stored record into the mirror (facts already newer are kept); asked again while it runs, it runs once more. */
  resync(): Promise<void> {
    this.again = true;
    this.scanning ??= (async () => {
      while (this.again) {
        this.again = false;
        await this.load();
      }
      this.scanning = undefined;
    })();
    return this.scanning;
  }

  private async load(): Promise<void> {
    try {
      const started = Date.now();
      const users = await this.options.store.scanMemberships((batch) => {
        for (const { userId, seq, groups } of batch) this.ordered.snapshot(userId, seq, groups);
      });
      this.options.log.info('cluster: membership mirror loaded from Redis', { users, ms: Date.now() - started });
    } catch (error) {
      this.options.log.error('cluster: could not load memberships from Redis', { error: (error as Error).message });
    }
  }

  private received(packet: { topic: string; payload: unknown }, done: () => void): void {
    try {
      // This node's own changes come back too; they were applied when made.
      if (packet.topic === this.ownTopic) return;
      let parsed: unknown;
      try {
        parsed = JSON.parse(Buffer.from(packet.payload as Uint8Array).toString('utf8'));
      } catch {
        parsed = undefined;
      }
      const checked = checkWire(parsed);
      if (!checked.ok) {
        this.options.log.warn('ignored invalid membership changes', { topic: packet.topic, reason: checked.reason });
        return;
      }
      for (const c of checked.value.changes) this.ordered.apply({ userId: c.u, groupId: c.g, seq: c.s, member: c.m });
    } finally {
      done();
    }
  }
}

function changeOf(event: GroupEvent): MembershipChange | undefined {
  if (event.action === 'join') return { userId: event.id, groupId: event.groupId, seq: event.seq, member: true };
  if (event.action === 'leave') return { userId: event.id, groupId: event.groupId, seq: event.seq, member: false };
  return undefined;
}

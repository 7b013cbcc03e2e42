import { Readable } from 'node:stream';

interface QueuedPacket {
  brokerId?: string;
  brokerCounter?: number;
  messageId?: number;
  [field: string]: unknown;
}

interface Session {
  id: string;
}

/** The outgoing-queue half of aedes' persistence interface, as aedes 1.x calls it (promises, no callbacks). */
export interface OutgoingPersistence {
  outgoingEnqueue(sub: { clientId: string }, packet: QueuedPacket): Promise<void>;
  outgoingEnqueueCombi(subs: { clientId: string }[], packet: QueuedPacket): Promise<void>;
  outgoingUpdate(client: Session, packet: QueuedPacket): Promise<void>;
  outgoingClearMessageId(client: Session, packet: { messageId?: number }): Promise<QueuedPacket | undefined>;
  outgoingStream(client: Session): Readable;
}

/** What the capped queues hold, for tests and metrics. */
export interface OfflineQueues {
  /** Messages held for a client id (queued while away, or sent and not yet acknowledged). */
  size(clientId: string): number;
  /** Messages held for all client ids together. */
  readonly total: number;
  /** Client ids with a non-empty queue. */
  readonly sessions: number;
  /** Messages dropped because a queue was full, since start. */
  readonly dropped: number;
  /** Drops every message held for a client id (its persistent session expired). */
  clear(clientId: string): void;
}

export interface OfflineQueueOptions {
  maxPerSession: number;
  /** Payload bytes one session's queue may hold (Mosquitto's max_queued_bytes); the newest message always stays. */
  maxBytesPerSession?: number;
  /** Whether a packet can be delivered to anyone at all; those that cannot are not queued. */
  deliverable?: (packet: QueuedPacket) => boolean;
  /** A session's queue is full and starts dropping (once until the client empties it again). */
  onFull?: (clientId: string) => void;
}

/**
 * A bounded per-session queue of QoS 1/2 messages, replacing the outgoing queue of aedes' in-memory
 * persistence.
 *
 * aedes stores every QoS > 0 message matching a persistent (clean=false) session's subscriptions in that
 * session's queue until the client acknowledges it, with no limit, and the queue outlives the
 * connection. A client that subscribes to `#` or `presence/#` once with a persistent session and never
 * comes back makes every later presence event grow the server's memory for good (found by the
 * protocol fuzz). Mosquitto bounds the same queue with `max_queued_messages` (default 1000); this is
 * that bound, per client id.
 *
 * When a queue is full the **oldest** message is dropped (Mosquitto drops the newest): presence events
 * are state changes, so a client coming back wants the latest ones; the newest 1000 leave it with the
 * current state of what changed recently, the oldest 1000 with a stale one. Messages already sent and
 * not yet acknowledged count too, and may be the ones dropped; a later PUBACK for them is harmless.
 *
 * aedes queues before it asks `authorizeForward`, so packets the product never delivers (a client's
 * publish under the presence prefix or `$SYS`, see publish.ts `forward`) would be queued too, and would
 * push genuine events out of a full queue: `deliverable` keeps them out.
 *
 * Semantics otherwise follow aedes-persistence 11's memory implementation, except that an update for a
 * packet that is no longer queued (dropped meanwhile) lets aedes deliver it instead of failing, which
 * would make aedes close the connection of a client that is merely slow to acknowledge.
 */
export function capOfflineQueues(persistence: OutgoingPersistence, options: OfflineQueueOptions): OfflineQueues {
  const { maxPerSession, maxBytesPerSession = Infinity, deliverable = () => true, onFull = () => {} } = options;
  const queues = new Map<string, QueuedPacket[]>();
  const bytes = new Map<string, number>();
  const sizeOf = (packet: QueuedPacket) => (Buffer.isBuffer(packet.payload) ? packet.payload.length : 0);
  const account = (clientId: string, delta: number) => bytes.set(clientId, (bytes.get(clientId) ?? 0) + delta);
  // Sessions that dropped since their queue was last emptied: `onFull` once per episode, not per message
  // (a device gone for good with a `#` subscription would otherwise report every event).
  const full = new Set<string>();
  let total = 0;
  let dropped = 0;

  const enqueue = (clientId: string, packet: QueuedPacket) => {
    let queue = queues.get(clientId);
    if (!queue) queues.set(clientId, (queue = []));
    // Each session gets its own copy: its packet identifier is assigned when it is sent to that session.
    queue.push({ ...packet, messageId: undefined });
    total++;
    account(clientId, sizeOf(packet));
    while (queue.length > maxPerSession || (queue.length > 1 && bytes.get(clientId)! > maxBytesPerSession)) {
      account(clientId, -sizeOf(queue.shift()!));
      total--;
      dropped++;
      if (!full.has(clientId)) {
        full.add(clientId);
        onFull(clientId);
      }
    }
  };

  persistence.outgoingEnqueue = async (sub, packet) => {
    if (deliverable(packet)) enqueue(sub.clientId, packet);
  };
  persistence.outgoingEnqueueCombi = async (subs, packet) => {
    if (!deliverable(packet)) return;
    for (const sub of subs) enqueue(sub.clientId, packet);
  };
  persistence.outgoingUpdate = async (client, packet) => {
    const queue = queues.get(client.id) ?? [];
    for (let i = 0; i < queue.length; i++) {
      const queued = queue[i]!;
      if (queued.brokerId === packet.brokerId) {
        if (queued.brokerCounter === packet.brokerCounter) {
          queued.messageId = packet.messageId;
          return;
        }
        // (same broker, another message: a packet identifier may repeat once the 16-bit ids wrap)
      } else if (queued.messageId === packet.messageId) {
        queue[i] = packet;
        return;
      }
    }
  };
  persistence.outgoingClearMessageId = async (client, packet) => {
    const queue = queues.get(client.id);
    if (!queue) return undefined;
    const at = queue.findIndex((queued) => queued.messageId === packet.messageId);
    if (at < 0) return undefined;
    const [cleared] = queue.splice(at, 1);
    total--;
    account(client.id, -sizeOf(cleared!));
    if (queue.length === 0) {
      queues.delete(client.id);
      bytes.delete(client.id);
      full.delete(client.id);
    }
    return cleared;
  };
  // A copy, as aedes may acknowledge (and so remove) entries while it streams them.
  persistence.outgoingStream = (client) => Readable.from([...(queues.get(client.id) ?? [])]);

  return {
    size: (clientId) => queues.get(clientId)?.length ?? 0,
    get total() {
      return total;
    },
    get sessions() {
      return queues.size;
    },
    get dropped() {
      return dropped;
    },
    clear: (clientId) => {
      total -= queues.get(clientId)?.length ?? 0;
      queues.delete(clientId);
      bytes.delete(clientId);
      full.delete(clientId);
    },
  };
}

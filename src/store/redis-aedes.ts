import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { Redis, type RedisOptions } from 'ioredis';
import { prefixRedisChannels } from '../broker/aedes-internals.js';
import type { OfflineQueues, OfflineQueueOptions, OutgoingPersistence } from '../broker/offline-queue.js';
import { GatedPublisher } from './publish-gate.js';
import type { ClusterKeys } from './redis-keys.js';

const require = createRequire(import.meta.url);
// CommonJS packages without types: the persistence (in the stream-returning shape aedes 1.x uses) and the emitter.
const redisPersistence = require('aedes-persistence-redis') as (opts: { conn: Redis }) => AedesPersistence;
// The encoding aedes-persistence-redis stores retained packets in (it decodes what the seq guard writes).
const msgpack = require('msgpack-lite') as { encode(value: unknown): Buffer };
const mqemitterRedis = require('mqemitter-redis') as (opts: { pubConn: Redis; subConn: Redis }) => RedisEmitter;

/** The parts of aedes' persistence this file wraps; the rest is passed to aedes untouched. */
export interface AedesPersistence extends OutgoingPersistence {
  storeRetained(packet: { topic: string; payload: Buffer }): Promise<void>;
  streamWill(brokers?: unknown): AsyncIterable<unknown> | Readable;
  delWill(client: { id: string; brokerId?: string }): Promise<unknown>;
  destroy(): Promise<void>;
}

/** mqemitter-redis' API (its channel naming is reached through aedes-internals.ts). */
interface RedisEmitter {
  on(topic: string, fn: (packet: { topic: string; payload: Buffer }, done: () => void) => void): void;
  close(cb: () => void): void;
  /** Re-emits its connections' errors; with no listener, Redis going away would crash the process. */
  state: { on(event: 'error', fn: (error: Error) => void): void };
}

/** What `serve --redis` hands aedes instead of its in-memory persistence and emitter. */
export interface RedisAedes {
  persistence: AedesPersistence;
  mq: unknown;
  /** The emitter's subscriber connection (its reconnects may have lost messages). */
  subscriber: Redis;
  /** Redis connections owned here (for health and shutdown). */
  connections: Redis[];
  close(): Promise<void>;
}

/** Stores a retained `presence/user/<id>` event only if its seq is above the stored one's (atomic). */
const RETAIN_IF_NEWER = `
local current = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if tonumber(ARGV[2]) <= current then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
`;

/**
 * aedes-persistence-redis (retained messages, persistent sessions and their queues, wills) and
 * mqemitter-redis (message fan-out between nodes), both on ioredis 5, for one cluster:
 * - every key under `<cluster>:aedes:` (ioredis keyPrefix), every pub/sub channel under `<cluster>:mq:`
 *   (pub/sub ignores databases, so without it two clusters on one Redis would hear each other);
 * - nothing is published while the emitter's subscriber is not subscribed (publish-gate.ts);
 * - a retained `presence/user/<id>` never goes back in time: two nodes publishing for one user race to
 *   store it, and the higher `seq` wins whatever the order (the memory index, retained-index.ts, is
 *   single-process and not used here: the Redis persistence already answers a filter without wildcards
 *   with one lookup);
 * - aedes' own dead-broker will sweep is off (`streamWill` yields nothing): node death is the cluster
 *   node's business (cluster-node.ts), which also deletes a dead node's wills.
 */
export function redisAedes(
  url: string,
  keys: ClusterKeys,
  userTopicPrefix: string,
  nodeId: string,
  onMovedAway: (clientId: string) => void,
  options: RedisOptions = {},
  /** A connection without key prefix to run the retained guard on (the node's store connection); else its own. */
  shared?: Redis,
): RedisAedes {
  const db = new Redis(url, { ...options, keyPrefix: keys.aedes() });
  const guard = shared ?? new Redis(url, options);
  const subConn = new Redis(url, options);
  const pubConn = new GatedPublisher(url, options, subConn);
  const persistence = redisPersistence({ conn: db });
  const storeRetained = persistence.storeRetained.bind(persistence);
  guard.defineCommand('retainIfNewer', { numberOfKeys: 2, lua: RETAIN_IF_NEWER });
  persistence.storeRetained = async (packet) => {
    if (!packet.topic.startsWith(userTopicPrefix) || packet.payload.length === 0) return storeRetained(packet);
    const seq = seqOf(packet.payload);
    if (seq === undefined) return storeRetained(packet);
    await (guard as Redis & RetainScript).retainIfNewer(`${keys.aedes()}retained`, keys.retainedSeq(), packet.topic, seq, msgpack.encode(packet));
  };
  persistence.streamWill = () => Readable.from([]);
  skipUnaddressedDelWill(persistence);

  const mq = mqemitterRedis({ pubConn, subConn });
  // Redis refusing connections is the node's health to report (cluster-node.ts), not a crash.
  mq.state.on('error', () => {});
  prefixRedisChannels(mq, keys.channel());
  // Subscribed before aedes' own listener (which closes the local client), so it is told first.
  mq.on('$SYS/+/new/clients', (packet, done) => {
    if (packet.topic.split('/')[1] !== nodeId) onMovedAway(packet.payload.toString());
    done();
  });

  return {
    persistence,
    mq,
    subscriber: subConn,
    connections: shared ? [db, pubConn, subConn] : [db, guard, pubConn, subConn],
    close: async () => {
      await persistence.destroy().catch(() => {});
      if (!shared) guard.disconnect();
      // aedes.close() closes the emitter (its two connections)
    },
  };
}

/**
 * aedes calls `delWill(client)` before every CONNACK (connect.js `storeWill`) with its Client, which has
 * no `brokerId`: aedes-persistence-redis then runs LREM, GET and DEL (two round trips) on
 * `will:undefined:<id>`, a key nothing writes (`putWill` stores under the broker's id). Answering "no
 * will" at once changes nothing but the cost (docs/cluster.md, "Capacity"). The deletes that name a
 * broker (a clean disconnect, a will published, a dead node's wills) still run.
 */
function skipUnaddressedDelWill(persistence: AedesPersistence): void {
  const delWill = persistence.delWill.bind(persistence);
  persistence.delWill = (client) => (client.brokerId === undefined ? Promise.resolve(null) : delWill(client));
}

function seqOf(payload: Buffer): number | undefined {
  try {
    const seq = (JSON.parse(payload.toString()) as { seq?: unknown }).seq;
    return typeof seq === 'number' && Number.isSafeInteger(seq) ? seq : undefined;
  } catch {
    return undefined;
  }
}

interface RetainScript {
  retainIfNewer(retained: string, seqs: string, topic: string, seq: number, packet: Buffer): Promise<number>;
}

/**
 * The equivalent of offline-queue.ts over the Redis persistence: packets nobody is ever given
 * (`deliverable`) are not queued, and a persistent session's queue stops growing at `maxPerSession`.
 * Unlike the memory queue it drops the NEWEST message when full (as Mosquitto does): the Redis list
 * holds keys of shared, reference-counted packets, and cutting its head would leak them. Sizes are as
 * last seen by this node.
 */
export function capRedisQueues(persistence: OutgoingPersistence, url: string, keys: ClusterKeys, options: OfflineQueueOptions, redisOptions: RedisOptions = {}): OfflineQueues & { close(): void } {
  const { maxPerSession, deliverable = () => true, onFull = () => {} } = options;
  const redis = new Redis(url, { ...redisOptions, keyPrefix: keys.aedes() });
  redis.on('error', () => {}); // reconnects by itself; the node reports Redis' absence (cluster-node.ts)
  const seen = new Map<string, number>();
  const full = new Set<string>();
  let dropped = 0;
  const enqueue = persistence.outgoingEnqueueCombi.bind(persistence);
  persistence.outgoingEnqueueCombi = async (subs, packet) => {
    if (!deliverable(packet) || subs.length === 0) return;
    const pipeline = redis.pipeline();
    for (const sub of subs) pipeline.llen(`outgoing:${encodeURIComponent(sub.clientId)}`);
    const lengths = ((await pipeline.exec()) ?? []).map(([, n]) => Number(n ?? 0));
    const room = subs.filter((sub, i) => {
      seen.set(sub.clientId, lengths[i]! + 1);
      if (lengths[i]! < maxPerSession) {
        full.delete(sub.clientId);
        return true;
      }
      dropped++;
      // once per episode, not per message
      if (!full.has(sub.clientId)) {
        full.add(sub.clientId);
        onFull(sub.clientId);
      }
      return false;
    });
    if (room.length > 0) await enqueue(room, packet);
  };
  persistence.outgoingEnqueue = (sub, packet) => persistence.outgoingEnqueueCombi([sub], packet);
  return {
    size: (clientId) => Math.min(seen.get(clientId) ?? 0, maxPerSession),
    get total() {
      let n = 0;
      for (const size of seen.values()) n += Math.min(size, maxPerSession);
      return n;
    },
    get sessions() {
      return seen.size;
    },
    get dropped() {
      return dropped;
    },
    // An expired persistent session (session-expiry.ts): its queue goes with it. The packets the list
    // pointed at are the persistence's to reclaim (aedes-persistence-redis keeps them by reference).
    clear: (clientId) => {
      seen.delete(clientId);
      full.delete(clientId);
      void redis.del(`outgoing:${encodeURIComponent(clientId)}`).catch(() => {});
    },
    close: () => redis.disconnect(),
  };
}

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Aedes } from 'aedes';
import { Gauge, type Registry } from 'prom-client';
import { Redis, type RedisOptions } from 'ioredis';
import type { ClusterParts, PresenceBroker } from '../broker/presence-broker.js';
import type { ServeConfig } from '../config.js';
import { ConfigError } from '../config.js';
import type { Logger } from '../log/logger.js';
import { refusal } from '../log/refusals.js';
import type { UserData } from '../core/events.js';
import { ClusterNode } from './cluster-node.js';
import { ClusterTracker } from './cluster-tracker.js';
import { capRedisQueues, redisAedes, type RedisAedes } from './redis-aedes.js';
import { RedisClientIdOwnership } from './redis-client-ids.js';
import { ClusterKeys } from './redis-keys.js';
import { IntervalRelay } from './interval-relay.js';
import { ClusterIntervals } from '../feed/cluster-intervals.js';
import { RedisStore } from './redis-store.js';
import { MembershipFeed, type MembershipEmitter } from './membership-feed.js';

/**
 * `serve --redis`: everything a node needs from Redis, assembled once (docs/cluster.md).
 * Order of use: `connectCluster` -> tracker on `store` with `nodeId` -> PresenceBroker with `parts`
 * -> `join(broker)` before listening -> `close()` after the broker closed.
 */
export interface Cluster {
  nodeId: string;
  keys: ClusterKeys;
  store: RedisStore;
  tracker: ClusterTracker;
  parts: ClusterParts;
  /** Client-id ownership (authentication on) for the whole cluster. */
  clientIds: RedisClientIdOwnership;
  /** Starts liveness (reaping this node's previous life), gates CONNECT on health. */
  join(broker: PresenceBroker): Promise<ClusterNode>;
  healthy(): boolean;
  /** This node's gauges beside the cluster-wide ones the store reports. */
  registerMetrics(registry: Registry, broker: PresenceBroker): void;
  close(): Promise<void>;
}

export async function connectCluster(config: ServeConfig, log: Logger, trustedData: (userId: string) => UserData | undefined): Promise<Cluster> {
  const url = config.redis!;
  const keys = new ClusterKeys(config.cluster);
  const nodeId = config.nodeId ?? defaultNodeId(config.mqttPort);
  // Fail fast at startup; afterwards ioredis reconnects forever and the node reports its health.
  // No ioredis auto-pipelining: it saves write calls only when commands meet in one event-loop turn,
  // which per-user change queues rarely make them do, and its Pipeline per turn cost more CPU than it
  // saved (bench scenario cluster, 2026-12-01: node CPU per cycle 0.64 ms with it, 0.55 ms without).
  // No limit on retries per command (ioredis fails them after 20 reconnects, ~21 s here): a change made
  // while Redis is away waits for it, as it does when Redis is paused, and is applied, never dropped.
  const options: RedisOptions = { lazyConnect: true, maxRetriesPerRequest: null, retryStrategy: (times) => Math.min(times * 100, 2000) };
  const redis = new Redis(url, options);
  redis.on('error', (error: Error) => log.debug('redis connection error', { error: error.message }));
  try {
    await redis.connect();
  } catch (error) {
    redis.disconnect();
    throw new ConfigError(`cannot reach Redis at ${url}: ${(error as Error).message}; start redis-server or fix --redis`);
  }
  const store = new RedisStore(redis, config.cluster);
  const tracker = new ClusterTracker({
    store,
    nodeId,
    // Each change is a Redis read and commit: users' changes overlap (core/change-queue.ts).
    concurrency: 'per-user',
    handoffMs: Math.min(2000, config.nodeTimeoutMs),
    graceMs: config.graceMs,
    trustedData,
    onError: (error) => log.error('presence change failed', { error }),
  });
  const aedesParts: RedisAedes = redisAedes(url, keys, `${config.prefix}/user/`, nodeId, (clientId) => tracker.clientMovedAway(clientId), {
    retryStrategy: options.retryStrategy,
    maxRetriesPerRequest: null,
  }, redis);
  for (const connection of aedesParts.connections) connection.on('error', () => {});
  let queueClose = () => {};
  let memberships: MembershipFeed | undefined;
  const parts: ClusterParts = {
    nodeId,
    persistence: aedesParts.persistence,
    mq: aedesParts.mq,
    capQueues: (persistence, opts) => {
      const queues = capRedisQueues(persistence, url, keys, opts, { retryStrategy: options.retryStrategy, maxRetriesPerRequest: null });
      queueClose = queues.close;
      return queues;
    },
    // A SUBSCRIBE to a group while Redis is away is refused (0x80), as a CONNECT is (CONNACK 3).
    membershipsUnavailable: () => (node?.healthy() ? undefined : refusal('server_unavailable', 'server unavailable: the cluster store (Redis) is unreachable')),
    // One node (a lease) publishes every large group's interval events (docs/cluster.md).
    intervals: (settings, next, delivered) => {
      const relay = new IntervalRelay(redis, keys, nodeId, Math.max(config.nodeTimeoutMs, 3 * settings.intervalMs));
      return new ClusterIntervals({ ...settings, relay, delivered }, next);
    },
    // The policy's mirror holds every node's joins and leaves (membership-feed.ts), loaded in `join`.
    mirrorMembership: (membership) => {
      const feed = new MembershipFeed({ membership, mq: aedesParts.mq as MembershipEmitter, subscriber: aedesParts.subscriber, store, nodeId, log });
      memberships = feed;
      return (events) => feed.local(events);
    },
  };
  const clientIds = new RedisClientIdOwnership(redis, keys, nodeId, (error) => log.warn('client id release failed', { error: (error as Error).message }));
  let node: ClusterNode | undefined;
  log.info('cluster: connected to Redis', { cluster: config.cluster, node: nodeId, nodeTimeoutMs: config.nodeTimeoutMs });
  return {
    nodeId,
    keys,
    store,
    tracker,
    parts,
    clientIds,
    async join(broker) {
      node = new ClusterNode({
        redis,
        store,
        keys,
        nodeId,
        nodeTimeoutMs: config.nodeTimeoutMs,
        tracker: broker.tracker,
        local: () => broker.liveConnections(),
        forget: (dead, clientId) => aedesParts.persistence.delWill({ id: clientId, brokerId: dead }),
        forgetNode: (dead) => clientIds.reapNode(dead),
        restore: async () => {
          const lost = await clientIds.restoreHolds();
          if (lost.length > 0) log.warn('cluster: client ids claimed by other users while this node was cut off', { clientIds: lost.slice(0, 20), count: lost.length });
        },
        log,
      });
      gateConnects(broker.aedes, () => node!.healthy());
      await memberships?.start();
      await node.start();
      return node;
    },
    healthy: () => node?.healthy() ?? false,
    registerMetrics(registry, broker) {
      const registers = [registry];
      new Gauge({ name: 'presence_node_connections', help: 'MQTT connections held by this node', registers, collect() {
        this.set(broker.connectedClients);
      } });
      new Gauge({ name: 'presence_node_healthy', help: '1 while this node reaches Redis and serves, else 0', registers, collect() {
        this.set(node?.healthy() ? 1 : 0);
      } });
      new Gauge({ name: 'presence_cluster_nodes', help: 'Nodes of the cluster whose liveness record is current', registers, async collect() {
        const nodes = await store.knownNodes();
        const alive = nodes.length ? await redis.exists(...nodes.map((n) => keys.nodeAlive(n))) : 0;
        this.set(alive + (nodes.includes(nodeId) ? 0 : 1));
      } });
    },
    async close() {
      await node?.stop();
      queueClose();
      await aedesParts.close();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/** A host's node keeps its id across restarts when its MQTT port is fixed; port 0 gets a fresh one. */
function defaultNodeId(mqttPort: number): string {
  const host = hostname().replace(/[^A-Za-z0-9_.-]/g, '-');
  return mqttPort !== 0 ? `${host}:${mqttPort}` : `${host}:${randomBytes(4).toString('hex')}`;
}

/** While the node cannot reach Redis, new connections get CONNACK 3 (server unavailable). */
function gateConnects(aedes: Aedes, healthy: () => boolean): void {
  const authenticate = aedes.authenticate;
  aedes.authenticate = (client, username, password, done) => {
    if (!healthy()) {
      const error = Object.assign(new Error('server unavailable: the cluster store (Redis) is unreachable'), { returnCode: 3 });
      return done(error as Parameters<typeof done>[0], false);
    }
    return authenticate.call(aedes, client, username, password, done);
  };
}

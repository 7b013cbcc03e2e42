import type { Redis } from 'ioredis';
import type { OfflineReason, UserData } from '../core/events.js';
import type { PresenceTracker } from '../core/tracker.js';
import type { Logger } from '../log/logger.js';
import type { ClusterKeys } from './redis-keys.js';
import type { RedisStore } from './redis-store.js';

export interface ClusterNodeOptions {
  redis: Redis;
  store: RedisStore;
  keys: ClusterKeys;
  nodeId: string;
  /** A node whose liveness record is this old is down (ms). */
  nodeTimeoutMs: number;
  tracker: PresenceTracker;
  /** The connections this process holds now. */
  local: () => { userId: string; clientId: string; data?: UserData; epoch?: string }[];
  /** Deletes what aedes kept for a dead node's client (its will). */
  forget?: (node: string, clientId: string) => Promise<unknown>;
  /** Frees what a dead node's connections held beyond presence (their client ids). */
  forgetNode?: (node: string) => Promise<unknown>;
  /** Puts back what this node's live connections hold beyond presence (their client ids), at a resync. */
  restore?: () => Promise<unknown>;
  log: Logger;
  onHealth?: (healthy: boolean) => void;
}

/**
 * One node's membership of the cluster (docs/cluster.md, "Failure behaviour"):
 * - liveness: `<cluster>:n:<node>:alive`, renewed every tick with a TTL of --node-timeout;
 * - health: the node is healthy while its renewals succeed in time; when they stop (Redis gone,
 *   paused or unreachable) it is unhealthy until one succeeds again, and then resyncs: the connection
 *   index in Redis is brought in line with the connections this process really holds;
 * - death of others: a node whose liveness record is gone is declared down by exactly one survivor (a
 *   lock, `<cluster>:n:<node>:reaper`, SET NX), which ends each connection the index lists for it with
 *   reason `node_down` through the tracker (compare-and-set, so every offline is published once);
 * - a node starting under an id that still has connections in the index reaps its previous life.
 * A node only declares others down once it has been healthy for a whole --node-timeout itself, so
 * after Redis was paused every node gets the time to renew before anyone is judged.
 */
export class ClusterNode {
  private timer: NodeJS.Timeout | undefined;
  private renewingSince: number | undefined;
  private isHealthy = false;
  private healthySince = 0;
  private needResync = false;
  private busy = false;
  private stopped = false;
  readonly tickMs: number;

  constructor(private readonly o: ClusterNodeOptions) {
    this.tickMs = Math.max(50, Math.min(500, Math.floor(o.nodeTimeoutMs / 4)));
  }

  /** Renews liveness once, reaps this node's previous life, then keeps ticking. */
  async start(): Promise<void> {
    await this.renew();
    if (!this.isHealthy) throw new Error('cannot reach Redis');
    await this.reap(this.o.nodeId, 'node_down');
    this.needResync = false;
    this.timer = setInterval(() => void this.tick(), this.tickMs);
    this.timer.unref();
  }

  /** Redis answers this node's renewals in time: it may accept connections and publish. */
  healthy(): boolean {
    if (this.stopped || !this.isHealthy) return false;
    if (this.renewingSince !== undefined && Date.now() - this.renewingSince > this.o.nodeTimeoutMs / 2) return false;
    return this.o.redis.status === 'ready';
  }

  /** Stops renewing and removes this node's liveness record (its connections have ended by now). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.o.redis.del(this.o.keys.nodeAlive(this.o.nodeId)).catch(() => {});
  }

  private async tick(): Promise<void> {
    if (this.isHealthy && !this.healthy()) this.setHealth(false);
    if (this.renewingSince === undefined) await this.renew();
    if (!this.healthy() || this.busy) return;
    this.busy = true;
    try {
      if (this.needResync && !(await this.o.redis.exists(this.o.keys.nodeReaper(this.o.nodeId)))) {
        this.needResync = false;
        await this.resync();
      }
      if (Date.now() - this.healthySince >= this.o.nodeTimeoutMs) await this.sweep();
    } catch (error) {
      this.o.log.warn('cluster housekeeping failed', { error: (error as Error).message });
    } finally {
      this.busy = false;
    }
  }

  private async renew(): Promise<void> {
    this.renewingSince = Date.now();
    try {
      // GET: the previous value; none means the record expired, and others may have reaped this node.
      const previous = await this.o.redis.set(this.o.keys.nodeAlive(this.o.nodeId), this.o.nodeId, 'PX', this.o.nodeTimeoutMs, 'GET');
      if (previous === null && this.timer) this.needResync = true;
      this.renewingSince = undefined;
      if (!this.isHealthy && this.o.redis.status === 'ready') {
        if (this.timer) this.needResync = true;
        this.setHealth(true);
      }
    } catch (error) {
      this.renewingSince = undefined;
      this.o.log.debug('liveness renewal failed', { error: (error as Error).message });
      if (this.isHealthy) this.setHealth(false);
    }
  }

  private setHealth(healthy: boolean): void {
    this.isHealthy = healthy;
    if (healthy) this.healthySince = Date.now();
    if (healthy) this.o.log.info('cluster: Redis reachable, node healthy', { node: this.o.nodeId });
    else this.o.log.warn('cluster: Redis unreachable, refusing connections until it is back', { node: this.o.nodeId });
    this.o.onHealth?.(healthy);
  }

  /** Declares down every other node whose liveness record is gone (one survivor per dead node). */
  private async sweep(): Promise<void> {
    for (const node of await this.o.store.knownNodes()) {
      if (node === this.o.nodeId || (await this.o.redis.exists(this.o.keys.nodeAlive(node)))) continue;
      const locked = await this.o.redis.set(this.o.keys.nodeReaper(node), this.o.nodeId, 'PX', this.o.nodeTimeoutMs, 'NX');
      if (locked !== 'OK') continue;
      try {
        await this.reap(node, 'node_down');
      } finally {
        await this.o.redis.del(this.o.keys.nodeReaper(node));
      }
    }
  }

  /**
   * Ends every connection the index lists for `node` and takes over the offlines its grace timers held
   * back (announced when their window ends, with their own reason); forgets the node once it holds none.
   */
  private async reap(node: string, reason: OfflineReason): Promise<void> {
    const connections = await this.o.store.nodeConnections(node);
    const held = await this.o.store.nodeHeldOfflines(node);
    if (connections.size + held.length > 0) {
      this.o.log.warn('cluster: node declared down, ending its connections', { node, by: this.o.nodeId, connections: connections.size, heldOfflines: held.length });
    }
    await Promise.all([
      ...[...connections].map(([clientId, userId]) => this.o.tracker.connectionDown({ userId, connectionId: clientId, reason, node })),
      ...held.map((userId) => this.o.tracker.adoptHeldOffline(userId, node)),
    ]);
    await this.o.tracker.settled();
    if (this.o.forget) await Promise.all([...connections.keys()].map((clientId) => this.o.forget!(node, clientId).catch(() => {})));
    await this.o.forgetNode?.(node);
    if (node === this.o.nodeId || (await this.o.store.nodeConnections(node)).size > 0) return;
    if ((await this.o.store.nodeHeldOfflines(node)).length === 0) await this.o.redis.srem(this.o.keys.nodes(), node);
  }

  /**
   * Brings the index in line with this process's connections after Redis was away or this node was
   * declared down: connections it lists that are gone end (`connection_lost`), live ones it misses
   * come up again.
   */
  private async resync(): Promise<void> {
    const listed = await this.o.store.nodeConnections(this.o.nodeId);
    const live = this.o.local();
    const liveIds = new Map(live.map((c) => [c.clientId, c.userId]));
    const changes: Promise<void>[] = [];
    for (const [clientId, userId] of listed) {
      if (liveIds.get(clientId) !== userId) changes.push(this.o.tracker.connectionDown({ userId, connectionId: clientId, reason: 'connection_lost' }));
    }
    for (const c of live) {
      if (listed.get(c.clientId) !== c.userId) {
        changes.push(this.o.tracker.connectionUp({ userId: c.userId, connectionId: c.clientId, data: c.data, epoch: c.epoch }));
      }
    }
    await Promise.all(changes);
    await this.o.restore?.();
    this.o.log.info('cluster: resynced this node', { node: this.o.nodeId, ended: listed.size - live.filter((c) => listed.get(c.clientId) === c.userId).length, restored: changes.length });
  }
}

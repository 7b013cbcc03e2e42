import { Aedes, type Client } from 'aedes';
import { MemoryClientIdOwnership, type ClientIdOwnership } from '../auth/client-ids.js';
import type { Membership, Viewer } from '../auth/policy.js';
import { Security } from '../auth/security.js';
import { PresenceTracker, realScheduler, type Scheduler } from '../core/tracker.js';
import { UpdateLimiter } from '../auth/update-limit.js';
import type { PresenceEvent, UserData } from '../core/events.js';
import type { Logger } from '../log/logger.js';
import { Topics, type TopicLayout } from '../topics.js';
import { assertAedesShape, maxTopicLevelsOf, persistenceOf } from './aedes-internals.js';
import { authenticate } from './authenticate.js';
import type { BrokerContext } from './context.js';
import { EventPublisher, aedesSender } from '../feed/event-publisher.js';
import { DEFAULT_INTERVAL_CONFIG } from '../feed/interval-config.js';
import { intervalStage, type FeedEvent, type IntervalStageOptions } from '../feed/intervals.js';
import type { FeedStage } from '../feed/cluster-intervals.js';
import { capOfflineQueues, type OfflineQueues } from './offline-queue.js';
import { guardPackets } from './packet-guard.js';
import { expirePersistentSessions, type SessionExpiry } from './session-expiry.js';
import { boundInflightQoS2, type InflightQoS2 } from './inflight-guard.js';
import { RefusalLog } from '../log/refusal-log.js';
import { refusal, type Refusal, type RefusalCode } from '../log/refusals.js';
import { indexRetained } from './retained-index.js';
import { endReplaysWithClients, type RetainedReplays } from './retained-replay.js';
import { guardSubscriptionStore } from './subscription-store-guard.js';
import { wireLifecycle } from './lifecycle.js';
import { recordGeneratedIds } from './observers.js';
import { authorizePublish, forward, type QueryHandler } from './publish.js';
import { Sessions } from './sessions.js';
import { authorizeSubscribe, onSubscribe, onUnsubscribe, viewerOf } from './subscribe.js';
import { settleUnsubscribesAtEnd } from './unsubscribe-intents.js';

export interface PresenceBrokerOptions {
  layout: TopicLayout;
  graceMs: number;
  maxDataBytes: number;
  log: Logger;
  tracker?: PresenceTracker;
  onRefused?: (what: 'connection' | 'publish' | 'subscribe', code: RefusalCode) => void;
  onPublished?: (event: FeedEvent) => void;
  /** Authentication, policy and limits; without it, anonymous clients, the open policy, default limits. */
  security?: Security;
  /** QoS 1/2 messages held per persistent session (docs/security.md); default 1000, like Mosquitto. */
  maxQueuedMessages?: number;
  /** Interval mode for large groups (src/feed/intervals.ts); default DEFAULT_INTERVAL_CONFIG. */
  intervals?: IntervalStageOptions;
  /** Client-id ownership (authentication on); default in memory. A cluster passes a shared one. */
  clientIds?: ClientIdOwnership;
  /** Payload bytes queued per persistent session (docs/security.md); default 16 MiB. */
  maxQueuedBytes?: number;
  /** Unreleased inbound QoS 2 messages (awaiting PUBREL) per client id (docs/security.md); default 100. */
  maxInflightMessages?: number;
  /** Milliseconds a persistent session outlives its last connection; 0 (default) = forever. */
  persistentSessionExpiryMs?: number;
  /** Timers of the broker's own (session expiry, the tracker's grace holds); real time unless a test drives them. */
  scheduler?: Scheduler;
  /** Data updates per connection per minute (PRODUCT.md "Data updates"); default 30, 0 = no limit. */
  maxUpdatesPerMinute?: number;
  /** Cluster mode (docs/cluster.md): aedes' id, persistence and emitter come from src/store/. */
  cluster?: ClusterParts;
}

/** What a cluster (`serve --redis`) gives aedes instead of its in-memory defaults. */
export interface ClusterParts {
  nodeId: string;
  persistence: unknown;
  mq: unknown;
  /** Replaces capOfflineQueues, which only works on the memory persistence. */
  capQueues: typeof capOfflineQueues;
  /** Why the node cannot store membership changes now (Redis unreachable), else undefined. */
  membershipsUnavailable?: () => Refusal | undefined;
  /** Interval mode across the cluster (src/feed/cluster-intervals.ts) instead of this node's own. */
  intervals?: (options: IntervalStageOptions, next: (events: FeedEvent[]) => void, delivered: () => Promise<void>) => FeedStage;
  /**
   * Feeds the policy's membership mirror with the cluster's joins and leaves, not only this node's
   * (src/store/membership-feed.ts): returns what takes this node's events instead of `Membership.apply`.
   */
  mirrorMembership?: (membership: Membership) => (events: readonly PresenceEvent[]) => void;
}

/** A live connection of this process, as the presence model knows it. */
export interface LiveConnection {
  userId: string;
  clientId: string;
  data?: UserData;
  epoch?: string;
}

/** An Aedes broker whose own connection, subscription and will events drive the presence model. */
export class PresenceBroker {
  readonly tracker: PresenceTracker;
  readonly topics: Topics;
  readonly publisher: EventPublisher;
  /** The feed's interval stage: events pass through it on their way to the publisher. */
  readonly intervals: FeedStage;
  readonly security: Security;
  /** The persistent sessions' message queues (bounded). */
  readonly offlineQueues: OfflineQueues;
  /** Persistent sessions waiting to expire. */
  readonly sessionExpiry: SessionExpiry;
  /** Inbound QoS 2 messages awaiting PUBREL (bounded per client id). */
  readonly inflightQoS2: InflightQoS2;
  /** Retained replays answering SUBSCRIBEs (they end with their client). */
  readonly retainedReplays: RetainedReplays;
  /** The per-connection update rate limit; its `now` is the clock tests drive. */
  readonly updateLimiter: UpdateLimiter;
  private readonly ctx: BrokerContext;
  private closing = false;
  private queryHandler: QueryHandler | undefined;

  private constructor(
    readonly aedes: Aedes,
    options: PresenceBrokerOptions,
  ) {
    this.topics = new Topics(options.layout);
    const topics = this.topics;
    const maxQueuedMessages = options.maxQueuedMessages ?? DEFAULT_MAX_QUEUED_MESSAGES;
    const queueLog = new RefusalLog(options.log);
    this.offlineQueues = (options.cluster?.capQueues ?? capOfflineQueues)(persistenceOf(aedes), {
      maxPerSession: maxQueuedMessages,
      maxBytesPerSession: options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES,
      // what a client published under the prefix or $SYS goes to no one (publish.ts `forward`)
      deliverable: (packet) => !packet.clientId || !(topics.isUnderPrefix(String(packet.topic)) || String(packet.topic).startsWith('$SYS')),
      onFull: (clientId) =>
        queueLog.warn('message queue full: dropping the oldest messages', refusal('message_queue_full', `over ${maxQueuedMessages} messages`), { clientId, maxQueuedMessages }),
    });
    this.retainedReplays = endReplaysWithClients(aedes, persistenceOf(aedes));
    const maxInflightMessages = options.maxInflightMessages ?? DEFAULT_MAX_INFLIGHT_MESSAGES;
    const inflightLog = new RefusalLog(options.log);
    this.inflightQoS2 = boundInflightQoS2(persistenceOf(aedes), {
      maxPerClient: maxInflightMessages,
      onRefused: (clientId) => {
        const refused = refusal('too_many_unreleased_qos_2_messages', `too many unreleased QoS 2 messages (limit ${maxInflightMessages})`);
        inflightLog.warn('connection closed', refused, { clientId });
        options.onRefused?.('connection', refused.code);
      },
    });
    this.security = options.security ?? new Security({ log: options.log });
    const security = this.security;
    this.tracker =
      options.tracker ??
      new PresenceTracker({
        graceMs: options.graceMs,
        scheduler: options.scheduler,
        trustedData: (userId) => security.trustedData(userId),
        onError: (error) => options.log.error('presence change failed', { error }),
      });
    this.publisher = new EventPublisher(aedesSender(aedes, this.topics), this.topics, options.log, options.onPublished);
    const tracker = this.tracker;
    const intervalOptions = { ...DEFAULT_INTERVAL_CONFIG, onError: (error: unknown) => options.log.error('interval mode failed', { error }), ...options.intervals };
    const toPublisher = (events: FeedEvent[]) => this.publisher.publish(events);
    this.intervals = options.cluster?.intervals
      ? options.cluster.intervals(intervalOptions, toPublisher, () => this.publisher.drained())
      : intervalStage(intervalOptions, (groupId) => tracker.groupPage(groupId, 0, 0).then((page) => page.total), toPublisher);
    const mirror = options.cluster?.mirrorMembership?.(security.membership) ?? ((events) => security.membership.apply(events));
    this.tracker.setEventSink((events) => {
      mirror(events);
      this.intervals.process(events);
    });
    this.updateLimiter = new UpdateLimiter(options.maxUpdatesPerMinute);
    this.ctx = {
      tracker: this.tracker,
      updates: this.updateLimiter,
      sessions: new Sessions(),
      topics: this.topics,
      log: options.log,
      maxDataBytes: options.maxDataBytes,
      security,
      clientIds: options.clientIds ?? new MemoryClientIdOwnership(),
      refused: options.onRefused ?? (() => {}),
      closing: () => this.closing,
      membershipsUnavailable: options.cluster?.membershipsUnavailable,
      lateUnsubscribes: options.cluster !== undefined,
      upAtRegister: options.cluster !== undefined,
    };
    aedes.authenticate = authenticate(this.ctx);
    aedes.authorizePublish = authorizePublish(this.ctx, () => this.queryHandler);
    aedes.authorizeSubscribe = authorizeSubscribe(this.ctx);
    aedes.authorizeForward = forward(this.ctx);
    aedes.on('subscribe', onSubscribe(this.ctx));
    aedes.on('unsubscribe', onUnsubscribe(this.ctx));
    aedes.on('clientError', (client, error) => options.log.debug('client error', { clientId: client?.id, error: error.message }));
    aedes.on('connectionError', (client, error) => options.log.debug('connection error', { clientId: client?.id, error: error.message }));
    recordGeneratedIds(aedes, this.ctx.sessions);
    wireLifecycle(aedes, this.ctx);
    if (this.ctx.lateUnsubscribes) settleUnsubscribesAtEnd(aedes, persistenceOf(aedes), this.ctx);
    this.sessionExpiry = expirePersistentSessions(aedes, {
      expiryMs: options.persistentSessionExpiryMs ?? 0,
      scheduler: options.scheduler ?? realScheduler,
      persistence: persistenceOf(aedes),
      clearQueue: (clientId) => this.offlineQueues.clear(clientId),
      connected: (clientId) => this.ctx.sessions.current(clientId) !== undefined,
      onExpired: (clientId) => {
        options.log.info('persistent session expired', { clientId, expiryMs: options.persistentSessionExpiryMs });
        // The client id was owned for as long as the session existed (auth/client-ids.ts): free it.
        void this.ctx.clientIds.sessionEnded(clientId).catch((error: Error) => options.log.error('could not free an expired session\'s client id', { clientId, error: error.message }));
      },
    });
    guardPackets(aedes, this.ctx);
  }

  static async create(options: PresenceBrokerOptions): Promise<PresenceBroker> {
    const cluster = options.cluster;
    const aedes = await Aedes.createBroker(
      cluster ? ({ id: cluster.nodeId, persistence: cluster.persistence, mq: cluster.mq } as never) : { id: 'presence-bridge' },
    );
    try {
      assertAedesShape(aedes);
    } catch (error) {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      throw error;
    }
    const persistence = persistenceOf(aedes);
    // The memory index is single-process; the Redis persistence looks a plain topic up by itself.
    if (!cluster) indexRetained(persistence);
    guardSubscriptionStore(persistence, maxTopicLevelsOf(aedes));
    return new PresenceBroker(aedes, options);
  }

  /** Serves `presence/query/<clientId>` requests (the query API plugs in here). */
  setQueryHandler(handler: QueryHandler): void {
    this.queryHandler = handler;
  }

  /** Replies to a client on its own reply topic. */
  reply(clientId: string, body: unknown): void {
    this.aedes.publish(
      { cmd: 'publish', topic: this.topics.reply(clientId), payload: Buffer.from(JSON.stringify(body)), qos: 1, retain: false, dup: false },
      () => {},
    );
  }

  /**
   * Who a connection is, as the watch policy sees it: query handlers check
   * `security.mayWatchUser(viewer, id)` / `mayWatchGroup` with it before answering.
   */
  viewer(client: Client): Viewer | undefined {
    return viewerOf(this.ctx, client);
  }

  /** Connections with an identity that this process holds now (cluster resync, src/store/cluster-node.ts). */
  liveConnections(): LiveConnection[] {
    const live: LiveConnection[] = [];
    for (const client of this.ctx.sessions.all()) {
      const identity = this.ctx.sessions.identity(client);
      if (!identity || client.closed) continue;
      live.push({ userId: identity.userId, clientId: client.id, data: identity.data, epoch: identity.epoch });
    }
    return live;
  }

  get connectedClients(): number {
    return this.ctx.sessions.size;
  }

  /**
   * Ends presence for everyone still connected (offline, reason `server_shutdown`), gives those events
   * time to reach subscribers, then closes the broker.
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const clients = this.ctx.sessions.all();
    for (const client of clients) {
      const identity = this.ctx.sessions.identity(client);
      if (!identity || identity.observer) continue;
      void this.tracker.connectionDown({ userId: identity.userId, connectionId: client.id, reason: 'server_shutdown' });
    }
    await this.tracker.flushGrace();
    await this.tracker.settled();
    await this.intervals.stop();
    await this.publisher.drained();
    await Promise.all(clients.map((client) => flushed(client, 2000)));
    await new Promise<void>((resolve) => this.aedes.close(() => resolve()));
  }
}

export const DEFAULT_MAX_QUEUED_MESSAGES = 1000;
export const DEFAULT_MAX_INFLIGHT_MESSAGES = 100;
export const DEFAULT_MAX_QUEUED_BYTES = 16 * 1024 * 1024;

/** Waits until what was written to a client's socket has left the process (bounded). */
function flushed(client: Client, timeoutMs: number): Promise<void> {
  const conn = client.conn as { writableLength?: number; once?: (event: string, fn: () => void) => void; destroyed?: boolean };
  if (!conn.writableLength || conn.destroyed || !conn.once) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    conn.once!('drain', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

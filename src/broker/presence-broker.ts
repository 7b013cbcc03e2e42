import { Aedes, type Client } from 'aedes';
import type { Viewer } from '../auth/policy.js';
import { Security } from '../auth/security.js';
import type { PresenceEvent } from '../core/events.js';
import { PresenceTracker } from '../core/tracker.js';
import type { Logger } from '../log.js';
import { Topics, type TopicLayout } from '../topics.js';
import { authenticate } from './authenticate.js';
import type { BrokerContext } from './context.js';
import { EventPublisher, aedesSender } from './event-publisher.js';
import { capOfflineQueues, type OfflineQueues, type OutgoingPersistence } from './offline-queue.js';
import { guardPackets } from './packet-guard.js';
import { RefusalLog } from './refusal-log.js';
import { indexRetained } from './retained-index.js';
import { guardSubscriptionStore } from './subscription-store-guard.js';
import { wireLifecycle } from './lifecycle.js';
import { recordGeneratedIds } from './observers.js';
import { authorizePublish, forward, type QueryHandler } from './publish.js';
import { Sessions } from './sessions.js';
import { authorizeSubscribe, onSubscribe, onUnsubscribe, viewerOf } from './subscribe.js';

export interface PresenceBrokerOptions {
  layout: TopicLayout;
  graceMs: number;
  maxDataBytes: number;
  log: Logger;
  tracker?: PresenceTracker;
  onRefused?: (what: 'connection' | 'publish' | 'subscribe', reason: string) => void;
  onPublished?: (event: PresenceEvent) => void;
  /** Authentication, policy and limits; without it, anonymous clients, the open policy, default limits. */
  security?: Security;
  /** QoS 1/2 messages held per persistent session (docs/security.md); default 1000, like Mosquitto. */
  maxQueuedMessages?: number;
}

/** An Aedes broker whose own connection, subscription and will events drive the presence model. */
export class PresenceBroker {
  readonly tracker: PresenceTracker;
  readonly topics: Topics;
  readonly publisher: EventPublisher;
  readonly security: Security;
  /** The persistent sessions' message queues (bounded). */
  readonly offlineQueues: OfflineQueues;
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
    this.offlineQueues = capOfflineQueues(persistenceOf(aedes), {
      maxPerSession: maxQueuedMessages,
      // what a client published under the prefix or $SYS goes to no one (publish.ts `forward`)
      deliverable: (packet) => !packet.clientId || !(topics.isUnderPrefix(String(packet.topic)) || String(packet.topic).startsWith('$SYS')),
      onFull: (clientId) => queueLog.warn('message queue full: dropping the oldest messages', { clientId, maxQueuedMessages }),
    });
    this.security = options.security ?? new Security({ log: options.log });
    const security = this.security;
    this.tracker =
      options.tracker ??
      new PresenceTracker({
        graceMs: options.graceMs,
        trustedData: (userId) => security.trustedData(userId),
        onError: (error) => options.log.error('presence change failed', { error }),
      });
    this.publisher = new EventPublisher(aedesSender(aedes, this.topics), this.topics, options.log, options.onPublished);
    this.tracker.setEventSink((events) => {
      security.membership.apply(events);
      this.publisher.publish(events);
    });
    this.ctx = {
      tracker: this.tracker,
      sessions: new Sessions(),
      topics: this.topics,
      log: options.log,
      maxDataBytes: options.maxDataBytes,
      security,
      refused: options.onRefused ?? (() => {}),
      closing: () => this.closing,
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
    guardPackets(aedes, this.ctx);
  }

  static async create(options: PresenceBrokerOptions): Promise<PresenceBroker> {
    const aedes = await Aedes.createBroker({ id: 'presence-bridge' });
    const persistence = persistenceOf(aedes);
    indexRetained(persistence);
    guardSubscriptionStore(persistence, (aedes as unknown as { maxTopicLevels: number }).maxTopicLevels);
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
    await this.publisher.drained();
    await Promise.all(clients.map((client) => flushed(client, 2000)));
    await new Promise<void>((resolve) => this.aedes.close(() => resolve()));
  }
}

export const DEFAULT_MAX_QUEUED_MESSAGES = 1000;

/** aedes' in-memory persistence, whose methods the product replaces or wraps (see each file). */
function persistenceOf(aedes: Aedes) {
  type Persistence = Parameters<typeof indexRetained>[0] & Parameters<typeof guardSubscriptionStore>[0] & OutgoingPersistence;
  return (aedes as unknown as { persistence: Persistence }).persistence;
}

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

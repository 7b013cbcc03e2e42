import { EventEmitter } from 'node:events';
import type { MqttClient } from 'mqtt';
import { UpdateLimiter } from '../auth/update-limit.js';
import { EventPublisher, type SendPacket } from '../feed/event-publisher.js';
import { intervalStage, type FeedEvent, type IntervalAggregator, type IntervalStageOptions } from '../feed/intervals.js';
import type { PresenceTracker, Scheduler } from '../core/tracker.js';
import type { Logger } from '../log/logger.js';
import type { Asker, QueryEndpoint } from '../queries/mqtt.js';
import type { ReplyBody } from '../queries/service.js';
import type { Topics } from '../topics.js';
import type { AttachConfig } from './config.js';
import { AnnouncementHandler } from './announcement-handler.js';
import { connectLink } from './link.js';
import { RetainedMirror } from './mirror.js';
import { QueryQueue } from './query-queue.js';
import { RebirthWatch } from './rebirth.js';
import { ResyncRun } from './resync.js';
import { BrokerWriter } from './broker-writer.js';
import type { Resync } from './snapshot.js';
import { TakeoverHolds } from './takeover.js';
import type { RefusalCode } from '../log/refusals.js';

const ONLINE = Buffer.from(JSON.stringify({ status: 'online' }));
const OFFLINE = Buffer.from(JSON.stringify({ status: 'offline' }));

export interface BridgeOptions {
  config: AttachConfig;
  tracker: PresenceTracker;
  topics: Topics;
  log: Logger;
  /** Told about each presence event the broker accepted (metrics). */
  onPublished?: (event: FeedEvent) => void;
  /** Told why an announcement was dropped or ignored, as its refusal code (metrics). */
  onRefused?: (code: RefusalCode) => void;
  /** Interval mode for large groups (src/feed/intervals.ts); the config's settings plus hooks. */
  intervals?: Partial<IntervalStageOptions>;
  /** Timers of the takeover window and the rebirth window (tests drive them). */
  scheduler?: Scheduler;
}

/**
 * Attach mode's edge: an MQTT client of an existing broker that turns the announcement protocol
 * (births, wills, memberships) into tracker signals and publishes the tracker's events back. It
 * assembles the parts: the link (link.ts), the resync after every CONNACK (resync.ts), live
 * announcements (announcement-handler.ts), the query queue (query-queue.ts), and its writes to the broker
 * (broker-writer.ts).
 *
 * Queries arrive on `presence/query/+` (the broker's ACL lets a client write only its own client id's
 * topic) and are handed to the query handler in the order received, after the announcements before
 * them; those that come during a resync wait for it. Replies go to `presence/reply/<clientId>`.
 *
 * Emits `synced` after each resync and `connection` (true/false) as the broker link changes.
 */
export class AttachBridge extends EventEmitter implements QueryEndpoint {
  readonly publisher: EventPublisher;
  /** The feed's interval stage: events pass through it on their way to the publisher. */
  readonly intervals: IntervalAggregator;
  readonly takeovers: TakeoverHolds;
  readonly rebirth: RebirthWatch;
  private readonly client: MqttClient;
  private readonly mirror = new RetainedMirror();
  private readonly statusTopic: string;
  private readonly queryPrefix: string;
  private closing = false;
  private readonly queries: QueryQueue;
  private readonly writer: BrokerWriter;
  private readonly announcements: AnnouncementHandler;
  private readonly resync: ResyncRun;
  /** The per-connection update rate limit (src/attach/updates.ts); its `now` is the clock tests drive. */
  readonly updateLimiter: UpdateLimiter;
  syncs = 0;

  constructor(private readonly options: BridgeOptions) {
    super();
    const { config, topics, log } = options;
    this.statusTopic = topics.bridge(config.bridgeId);
    this.queryPrefix = `${topics.prefix}/query/`;
    this.updateLimiter = new UpdateLimiter(config.maxUpdatesPerMinute);
    this.client = connectLink({
      broker: config.broker,
      clientId: config.bridgeId,
      username: config.username,
      password: config.password,
      reconnectMs: config.reconnectMs,
      will: { topic: this.statusTopic, payload: OFFLINE, qos: 1, retain: true },
      log,
      closing: () => this.closing,
    });
    this.queries = new QueryQueue(log);
    this.takeovers = new TakeoverHolds(config.takeoverWindowMs, options.scheduler);
    this.rebirth = new RebirthWatch(config.rebirthWindowMs, `${this.statusTopic}/marker`, options.scheduler);
    this.publisher = new EventPublisher(this.sender(), topics, log, options.onPublished);
    const tracker = options.tracker;
    this.intervals = intervalStage(
      {
        announceMax: config.announceMax,
        intervalMs: config.intervalMs,
        intervalMaxIds: config.intervalMaxIds,
        onError: (error) => log.error('interval mode failed', { error }),
        ...options.intervals,
      },
      (groupId) => tracker.groupPage(groupId, 0, 0).then((page) => page.total),
      (events) => this.publisher.publish(events),
    );
    tracker.setEventSink((events) => this.intervals.process(events));
    this.writer = new BrokerWriter(this.client, log, () => this.closing);
    const { mirror, takeovers, writer } = this;
    const shared = { tracker, topics, log, mirror, writer, maxDataBytes: config.maxDataBytes };
    this.announcements = new AnnouncementHandler({ ...shared, takeovers, limiter: this.updateLimiter, onRefused: options.onRefused });
    this.resync = new ResyncRun({
      ...shared,
      client: this.client,
      rebirth: this.rebirth,
      sentinelTopic: `${this.statusTopic}/sync`,
      drop: (topic, refusal) => this.announcements.drop(topic, refusal),
      onApplied: (resync) => this.resynced(resync),
    });
    this.client.on('connect', () => {
      log.info('connected to the broker; resyncing', { broker: config.broker });
      this.queries.reset();
      this.resync.start();
    });
    this.client.on('message', (topic, payload, packet) => this.onMessage(topic, payload, packet.retain));
    this.client.on('close', () => {
      const wasLive = this.resync.linkLost();
      this.writer.forgetCopies();
      this.rebirth.pause();
      if (wasLive) this.emit('connection', false);
    });
  }

  get connected(): boolean {
    return this.client.connected;
  }

  /** True while connected and live (the last resync finished). */
  get synced(): boolean {
    return this.client.connected && this.resync.live;
  }

  /** Queries that arrived during a resync and waited for it. */
  get queriesHeld(): number {
    return this.queries.heldCount;
  }

  /** Announcements dropped as invalid, live or at a resync. */
  get dropped(): number {
    return this.announcements.dropped;
  }

  get liveConnections(): number {
    return this.mirror.liveCount;
  }

  settled(): Promise<void> {
    return this.options.tracker.settled();
  }

  drained(): Promise<void> {
    return this.publisher.drained();
  }

  /** Attach mode answers every asker in full: who may watch whom is the external broker's ACL's business. */
  onQuery(handler: (asker: Asker, payload: Buffer) => void): void {
    this.queries.handler = handler;
  }

  /**
   * QoS 1, not retained. Dropped while the link is down: the asker's request went with its own
   * session's view of the broker, and a reply queued for a later connection would only confuse it.
   */
  reply(clientId: string, body: ReplyBody): void {
    const topic = this.options.topics.reply(clientId);
    if (!this.client.connected) {
      this.options.log.debug('query reply dropped: the broker link is down', { topic });
      return;
    }
    this.client.publish(topic, Buffer.from(JSON.stringify(body)), { qos: 1, retain: false }, (error) => {
      if (error && !this.closing) this.options.log.warn('publishing a query reply failed', { topic, error: error.message });
    });
  }

  /**
   * Marks the bridge offline, lets queued events out, and disconnects. Users stay as they are: their
   * connections to the broker are untouched, so no offline is published for them.
   */
  async close(timeoutMs = 5000): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.rebirth.stop();
    const flushed = (async () => {
      await this.options.tracker.settled();
      this.intervals.stop();
      await this.publisher.drained();
      if (this.client.connected) await this.writer.publish(this.statusTopic, OFFLINE, true);
    })();
    await Promise.race([flushed, new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())]);
    await this.client.endAsync(!this.client.connected);
  }

  /**
   * mqtt.js writes packets in the order it is handed them and the broker forwards one client's QoS 1
   * messages in order, so the next event may go as soon as this one is handed over.
   */
  private sender(): SendPacket {
    return (topic, payload, retain, ordered, done) => {
      this.client.publish(topic, payload, { qos: 1, retain }, (error) => done(error));
      ordered();
    };
  }

  private onMessage(topic: string, payload: Buffer, retained: boolean): void {
    if (this.rebirth.observe(topic, payload)) return;
    if (topic.startsWith(this.queryPrefix)) {
      const target = this.options.topics.parse(topic);
      return target.kind === 'query' ? this.queries.receive(target.clientId, payload, retained, !this.resync.live) : undefined;
    }
    if (!this.resync.collect(topic, payload)) this.announcements.handle(topic, payload);
  }

  private resynced(resync: Resync): void {
    const { log, tracker } = this.options;
    // Asked during the resync: answered now, from the new truth (the service waits for it to settle).
    this.queries.release();
    this.syncs++;
    log.info('resynced', { users: resync.users.length, connections: resync.births.size, cleared: resync.clear.length });
    void tracker.settled().then(async () => {
      // Consumers see the resync's events before the status that says presence is maintained again.
      await this.publisher.drained();
      if (!this.client.connected || this.closing) return;
      await this.writer.publish(this.statusTopic, ONLINE, true);
      this.rebirth.keepMarker((value, acked) => this.client.publish(this.rebirth.markerTopic, value, { qos: 1, retain: true }, (e) => e || acked()));
      this.emit('connection', true);
      this.emit('synced');
    });
  }
}

import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { parseConnAnnouncement, parseMemberAnnouncement } from '../announcements.js';
import { UpdateLimiter } from '../auth/update-limit.js';
import { onConnUpdate } from './updates.js';
import { EventPublisher, type SendPacket } from '../feed/event-publisher.js';
import { intervalStage, type FeedEvent, type IntervalAggregator, type IntervalStageOptions } from '../feed/intervals.js';
import type { PresenceTracker, Scheduler } from '../core/tracker.js';
import type { Logger } from '../log/logger.js';
import type { Asker, QueryEndpoint } from '../queries/mqtt.js';
import type { ReplyBody } from '../queries/service.js';
import type { Topics } from '../topics.js';
import type { AttachConfig } from './config.js';
import { connectLink } from './link.js';
import { RetainedMirror } from './mirror.js';
import { QueryQueue } from './query-queue.js';
import { buildResync, isAnnouncementTopic } from './snapshot.js';
import { NOT_AN_ANNOUNCEMENT_TOPIC } from './refusals.js';
import type { Refusal, RefusalCode } from '../log/refusals.js';
import { RebirthWatch, UPTIME_TOPIC } from './rebirth.js';
import { TakeoverHolds } from './takeover.js';

const ONLINE = Buffer.from(JSON.stringify({ status: 'online' }));
const OFFLINE = Buffer.from(JSON.stringify({ status: 'offline' }));
const EMPTY = Buffer.alloc(0);
const JOIN = Buffer.from(JSON.stringify({ action: 'join' }));

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
 * (births, wills, memberships) into tracker signals and publishes the tracker's events back.
 *
 * After every CONNACK it resyncs: it subscribes, receives the retained announcements and user events,
 * and knows it has them all when its own sentinel message comes back (a broker delivers to one
 * subscriber in order). Until then messages are only collected; then each user is settled against the
 * new truth in one step (`PresenceTracker.resync`) and live processing starts.
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
  private readonly sentinelTopic: string;
  private readonly queryPrefix: string;
  /** Messages collected during a resync, last one per topic; undefined when live. */
  private collecting: Map<string, Buffer> | undefined = new Map();
  private sentinel = '';
  /** Announcement topics whose retained birth was cleared while collecting; restored after. */
  private lost = new Set<string>();
  private closing = false;
  private readonly queries: QueryQueue;
  /** The per-connection update rate limit (src/attach/updates.ts); its `now` is the clock tests drive. */
  readonly updateLimiter: UpdateLimiter;
  syncs = 0;
  dropped = 0;

  constructor(private readonly options: BridgeOptions) {
    super();
    const { config, topics, log } = options;
    this.statusTopic = topics.bridge(config.bridgeId);
    this.sentinelTopic = `${this.statusTopic}/sync`;
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
    this.client.on('connect', () => this.startResync());
    this.client.on('message', (topic, payload, packet) => this.onMessage(topic, payload, packet.retain));
    this.client.on('close', () => {
      const wasLive = this.collecting === undefined;
      this.collecting = new Map();
      this.rebirth.pause();
      if (wasLive) this.emit('connection', false);
    });
  }

  get connected(): boolean {
    return this.client.connected;
  }

  /** True while connected and live (the last resync finished). */
  get synced(): boolean {
    return this.client.connected && this.collecting === undefined;
  }

  /** Queries that arrived during a resync and waited for it. */
  get queriesHeld(): number {
    return this.queries.heldCount;
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
      if (this.client.connected) await this.publish(this.statusTopic, OFFLINE, true);
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

  private publish(topic: string, payload: Buffer, retain: boolean): Promise<void> {
    return new Promise((resolve) => {
      this.client.publish(topic, payload, { qos: 1, retain }, (error) => {
        if (error && !this.closing) this.options.log.warn('publish to the broker failed', { topic, error: error.message });
        resolve();
      });
    });
  }

  private startResync(): void {
    const { topics, log, config } = this.options;
    this.collecting = new Map();
    this.lost = new Set();
    this.queries.reset();
    this.sentinel = randomUUID();
    this.rebirth.resyncStarted();
    const sentinel = this.sentinel;
    const filters = [
      `${topics.prefix}/conn/#`,
      `${topics.prefix}/member/#`,
      `${topics.prefix}/query/+`,
      `${topics.prefix}/user/+`,
      this.sentinelTopic,
      ...this.rebirth.filters,
    ];
    log.info('connected to the broker; resyncing', { broker: config.broker });
    // QoS 0 on purpose. Mosquitto queues at most max_queued_messages (1000) QoS 1 messages per client
    // and silently drops the rest, retained ones at SUBSCRIBE included; QoS 0 has no such limit. Nothing
    // is lost by it: within a connection TCP delivers, and a broken connection is followed by a resync.
    // Queries come at QoS 0 too, so they reach us in order with the announcements published before
    // them (a broker may hold back QoS 1 deliveries past its in-flight window, but not QoS 0 ones).
    this.client.subscribe(filters, { qos: 0 }, (error, granted) => {
      // $SYS is Mosquitto's: another broker may refuse it, and the marker alone tells a restart then.
      const refused = granted?.filter((g) => g.qos === 128 && g.topic !== UPTIME_TOPIC).map((g) => g.topic) ?? [];
      if (error || refused.length > 0) {
        log.error('the broker refused the bridge its subscriptions; check its ACL', { filters: refused, error: error?.message });
        return;
      }
      if (sentinel !== this.sentinel) return;
      // Retained messages are queued to us at SUBSCRIBE; our sentinel comes back after all of them.
      this.client.publish(this.sentinelTopic, Buffer.from(sentinel), { qos: 1, retain: false });
    });
  }

  private onMessage(topic: string, payload: Buffer, retained: boolean): void {
    if (this.rebirth.observe(topic, payload)) return;
    if (topic.startsWith(this.queryPrefix)) {
      const target = this.options.topics.parse(topic);
      return target.kind === 'query' ? this.queries.receive(target.clientId, payload, retained, !!this.collecting) : undefined;
    }
    if (this.collecting) {
      if (topic === this.sentinelTopic) {
        if (payload.toString() === this.sentinel) this.finishResync(this.collecting);
        return;
      }
      // A clear sent before the link dropped can land after a new birth; the birth stays the truth.
      if (payload.length === 0 && this.collecting.has(topic) && this.options.topics.parse(topic).kind === 'conn') {
        this.lost.add(topic);
        return;
      }
      this.collecting.set(topic, payload);
      return;
    }
    this.onLive(topic, payload);
  }

  private finishResync(collected: Map<string, Buffer>): void {
    const { topics, log, tracker, config } = this.options;
    this.collecting = undefined;
    this.client.unsubscribe(`${topics.prefix}/user/+`);
    const resync = buildResync(collected, topics, this.mirror, config.maxDataBytes);
    for (const { topic, refusal } of resync.dropped) this.drop(topic, refusal);
    this.rebirth.afterResync(resync.births, this.mirror, () => this.mirror, log, (topic, birth) => {
      void tracker.connectionDown({ userId: birth.userId, connectionId: birth.clientId, reason: 'broker_restart', epoch: birth.epoch });
      this.clear(topic);
    });
    this.mirror.replace(resync.births, resync.members);
    for (const user of resync.users) void tracker.resync(user);
    for (const topic of resync.clear) this.clear(topic);
    for (const topic of this.lost) {
      const birth = resync.births.get(topic);
      if (birth) this.restore(topic, birth.payload, 'a retained birth was cleared during the resync');
    }
    // Asked during the resync: answered now, from the new truth (the service waits for it to settle).
    this.queries.release();
    this.syncs++;
    log.info('resynced', { users: resync.users.length, connections: resync.births.size, cleared: resync.clear.length });
    void tracker.settled().then(async () => {
      // Consumers see the resync's events before the status that says presence is maintained again.
      await this.publisher.drained();
      if (!this.client.connected || this.closing) return;
      await this.publish(this.statusTopic, ONLINE, true);
      this.rebirth.keepMarker((value, acked) => this.client.publish(this.rebirth.markerTopic, value, { qos: 1, retain: true }, (e) => e || acked()));
      this.emit('connection', true);
      this.emit('synced');
    });
  }

  private onLive(topic: string, payload: Buffer): void {
    const target = this.options.topics.parse(topic);
    if (target.kind === 'conn') this.onConn(topic, target.userId, target.clientId, payload);
    else if (target.kind === 'member') this.onMember(topic, target.groupId, target.userId, payload);
    else if (payload.length > 0 && isAnnouncementTopic(this.options.topics, topic)) {
      this.drop(topic, NOT_AN_ANNOUNCEMENT_TOPIC);
      this.clear(topic);
    }
  }

  private onConn(topic: string, userId: string, clientId: string, payload: Buffer): void {
    const { tracker, log, config } = this.options;
    const live = this.mirror.live(topic);
    if (payload.length === 0) {
      // Our clear of a processed offline crossed a new birth on its way: put the birth back.
      if (live && !this.takeovers.has(topic)) this.restore(topic, live.payload, 'a retained birth was cleared');
      return;
    }
    const parsed = parseConnAnnouncement(payload, config.maxDataBytes);
    if (!parsed.ok) {
      this.drop(topic, parsed.refusal);
      if (live) this.restore(topic, live.payload, 'an invalid announcement replaced a live birth');
      else this.clear(topic);
      return;
    }
    const { action, epoch, data } = parsed.value;
    log.debug('announcement', { topic, action, epoch });
    if (action === 'update') {
      const deps = { tracker, mirror: this.mirror, limiter: this.updateLimiter, log, onRefused: this.options.onRefused };
      const restore = (t: string, p: Buffer, why: string) => this.restore(t, p, why);
      return onConnUpdate({ ...deps, restore, clear: (t) => this.clear(t) }, { topic, userId, clientId, data: data!, epoch, payload });
    }
    if (action === 'online') {
      if (this.mirror.isEnded(topic, epoch)) {
        log.info('stale birth ignored: its epoch already ended', { topic, epoch });
        this.options.onRefused?.('stale_epoch');
        if (live) this.restore(topic, live.payload, 'a stale birth replaced a live birth');
        else this.clear(topic);
        return;
      }
      // During a will's takeover window: the ending connection's own birth again changes nothing; a new
      // epoch's is the takeover, and the old epoch ends silently.
      if (this.takeovers.has(topic) && epoch !== undefined && epoch === live?.epoch) return;
      if (this.takeovers.birth(topic)) this.mirror.end(topic);
      this.mirror.setLive(topic, { userId, clientId, epoch, data, payload });
      void tracker.connectionUp({ userId, connectionId: clientId, data, epoch });
      return;
    }
    if (live && epoch !== undefined && live.epoch !== undefined && epoch !== live.epoch) {
      log.info('stale offline ignored: not the connection\'s current epoch', { topic, epoch, current: live.epoch });
      this.options.onRefused?.('stale_epoch');
      this.restore(topic, live.payload, 'a stale offline replaced a live birth');
      return;
    }
    if (!live) return this.clear(topic);
    this.takeovers.hold(topic, parsed.value, () => {
      if (this.mirror.live(topic) !== live) return; // a resync settled it meanwhile
      this.mirror.end(topic);
      void tracker.connectionDown({ userId, connectionId: clientId, reason: 'announced', epoch });
      this.clear(topic);
    });
  }

  private onMember(topic: string, groupId: string, userId: string, payload: Buffer): void {
    const parsed = parseMemberAnnouncement(payload);
    if (!parsed.ok) {
      this.drop(topic, parsed.refusal);
      // The junk replaced the retained membership: put back what holds, so a restart sees the truth.
      if (this.mirror.isMember(userId, groupId)) this.restore(topic, JOIN, 'an invalid announcement replaced a membership');
      else this.clear(topic);
      return;
    }
    if (parsed.value.action === 'join') {
      this.mirror.join(userId, groupId);
      void this.options.tracker.join(userId, groupId);
      return;
    }
    this.mirror.leave(userId, groupId);
    void this.options.tracker.leave(userId, groupId);
    if (payload.length > 0) this.clear(topic);
  }

  /**
   * Clears a processed retained announcement, at most once: one lost with the link is harmless, since
   * the next resync finds and clears whatever is still there.
   */
  private clear(topic: string): void {
    // QoS 0 and never queued: a clear resent after a reconnect could wipe a birth made meanwhile.
    if (this.client.connected) this.client.publish(topic, EMPTY, { qos: 0, retain: true });
  }

  /** Republishes what the bridge holds as true for a topic whose retained copy was lost or replaced. */
  private restore(topic: string, payload: Buffer, why: string): void {
    this.options.log.info('restoring a retained announcement', { topic, why });
    void this.publish(topic, payload, true);
  }

  private drop(topic: string, refusal: Refusal): void {
    this.dropped++;
    this.options.log.warn('announcement dropped', { topic, code: refusal.code, reason: refusal.detail });
    this.options.onRefused?.(refusal.code);
  }
}

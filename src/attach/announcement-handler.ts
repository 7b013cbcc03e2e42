import { parseConnAnnouncement, parseMemberAnnouncement } from '../announcements.js';
import type { UpdateLimiter } from '../auth/update-limit.js';
import type { PresenceTracker } from '../core/tracker.js';
import type { Logger } from '../log/logger.js';
import type { Topics } from '../topics.js';
import type { RetainedMirror } from './mirror.js';
import type { Refusal, RefusalCode } from '../log/refusals.js';
import { NOT_AN_ANNOUNCEMENT_TOPIC } from './refusals.js';
import type { BrokerWriter } from './broker-writer.js';
import { isAnnouncementTopic } from './snapshot.js';
import type { TakeoverHolds } from './takeover.js';
import { onConnUpdate } from './updates.js';

const JOIN = Buffer.from(JSON.stringify({ action: 'join' }));

export interface AnnouncementDeps {
  tracker: PresenceTracker;
  topics: Topics;
  log: Logger;
  mirror: RetainedMirror;
  takeovers: TakeoverHolds;
  limiter: UpdateLimiter;
  writer: BrokerWriter;
  /** The largest `data` an announcement may carry, in bytes (JSON). */
  maxDataBytes: number;
  /** Told why an announcement was dropped or ignored, as its refusal code (metrics). */
  onRefused?: (code: RefusalCode) => void;
}

/**
 * The announcement protocol (PRODUCT.md "Announcement protocol") applied live, one message at a time,
 * once a resync is done: births, wills and offlines on `presence/conn/<userId>/<clientId>` (with the
 * takeover window and epochs), updates (src/attach/updates.ts), joins and leaves on
 * `presence/member/<groupId>/<userId>`. What it processed it clears; junk is dropped, and where it
 * replaced a retained truth, that truth is put back.
 */
export class AnnouncementHandler {
  /** Announcements dropped as invalid, live or at a resync. */
  dropped = 0;

  constructor(private readonly deps: AnnouncementDeps) {}

  /** One message on an announcement topic (or any other topic under the prefix the bridge reads). */
  handle(topic: string, payload: Buffer): void {
    const target = this.deps.topics.parse(topic);
    if (payload.length > 0 && (target.kind === 'conn' || target.kind === 'member')) {
      const source = this.deps.writer.ownCopy(topic, payload);
      if (source) return this.onOwnCopy(topic, target.kind === 'member' ? target : undefined, source);
    }
    if (target.kind === 'conn') this.onConn(topic, target.userId, target.clientId, payload);
    else if (target.kind === 'member') this.onMember(topic, target.groupId, target.userId, payload);
    else if (payload.length > 0 && isAnnouncementTopic(this.deps.topics, topic)) {
      this.drop(topic, NOT_AN_ANNOUNCEMENT_TOPIC);
      this.deps.writer.clear(topic);
    }
  }

  /** Counts, logs and labels an invalid announcement; the caller decides what to clear or restore. */
  drop(topic: string, refusal: Refusal): void {
    this.dropped++;
    this.deps.log.warn('announcement dropped', { topic, code: refusal.code, reason: refusal.detail });
    this.deps.onRefused?.(refusal.code);
  }

  /**
   * A copy the bridge restored (of `source`), heard back: it changes nothing, but the broker now retains
   * it. If the topic moved on meanwhile (the birth ended or changed, the membership was left), the truth
   * is put back again.
   */
  private onOwnCopy(topic: string, member: { groupId: string; userId: string } | undefined, source: Buffer): void {
    const { mirror, writer } = this.deps;
    if (member) {
      if (!mirror.isMember(member.userId, member.groupId)) writer.clear(topic);
      return;
    }
    const live = mirror.live(topic);
    if (live?.payload.equals(source)) return;
    if (live) writer.restore(topic, live.payload, 'an outdated copy of ours replaced the live birth');
    else writer.clear(topic);
  }

  private onConn(topic: string, userId: string, clientId: string, payload: Buffer): void {
    const { tracker, log, mirror, takeovers, writer, onRefused } = this.deps;
    const live = mirror.live(topic);
    if (payload.length === 0) {
      // Our clear of a processed offline crossed a new birth on its way: put the birth back.
      if (live && !takeovers.has(topic)) writer.restore(topic, live.payload, 'a retained birth was cleared');
      return;
    }
    const parsed = parseConnAnnouncement(payload, this.deps.maxDataBytes);
    if (!parsed.ok) {
      this.drop(topic, parsed.refusal);
      if (live) writer.restore(topic, live.payload, 'an invalid announcement replaced a live birth');
      else writer.clear(topic);
      return;
    }
    const { action, epoch, data } = parsed.value;
    log.debug('announcement', { topic, action, epoch });
    if (action === 'update') {
      const deps = { tracker, mirror, limiter: this.deps.limiter, log, onRefused };
      const restore = (t: string, p: Buffer, why: string) => writer.restore(t, p, why);
      return onConnUpdate({ ...deps, restore, clear: (t) => writer.clear(t) }, { topic, userId, clientId, data: data!, epoch, payload });
    }
    if (action === 'online') {
      if (mirror.isEnded(topic, epoch)) {
        log.info('stale birth ignored: its epoch already ended', { topic, epoch });
        onRefused?.('stale_epoch');
        if (live) writer.restore(topic, live.payload, 'a stale birth replaced a live birth');
        else writer.clear(topic);
        return;
      }
      // During a will's takeover window: the ending connection's own birth again changes nothing; a new
      // epoch's is the takeover, and the old epoch ends silently.
      if (takeovers.has(topic) && epoch !== undefined && epoch === live?.epoch) return;
      if (takeovers.birth(topic)) mirror.end(topic);
      mirror.setLive(topic, { userId, clientId, epoch, data, payload });
      void tracker.connectionUp({ userId, connectionId: clientId, data, epoch });
      return;
    }
    if (live && epoch !== undefined && live.epoch !== undefined && epoch !== live.epoch) {
      log.info('stale offline ignored: not the connection\'s current epoch', { topic, epoch, current: live.epoch });
      onRefused?.('stale_epoch');
      writer.restore(topic, live.payload, 'a stale offline replaced a live birth');
      return;
    }
    if (!live) return writer.clear(topic);
    takeovers.hold(topic, parsed.value, () => {
      if (mirror.live(topic) !== live) return; // a resync settled it meanwhile
      mirror.end(topic);
      void tracker.connectionDown({ userId, connectionId: clientId, reason: 'announced', epoch });
      writer.clear(topic);
    });
  }

  private onMember(topic: string, groupId: string, userId: string, payload: Buffer): void {
    const { mirror, tracker, writer } = this.deps;
    const parsed = parseMemberAnnouncement(payload);
    if (!parsed.ok) {
      this.drop(topic, parsed.refusal);
      // The junk replaced the retained membership: put back what holds, so a restart sees the truth.
      if (mirror.isMember(userId, groupId)) writer.restore(topic, JOIN, 'an invalid announcement replaced a membership');
      else writer.clear(topic);
      return;
    }
    if (parsed.value.action === 'join') {
      mirror.join(userId, groupId);
      void tracker.join(userId, groupId);
      return;
    }
    mirror.leave(userId, groupId);
    void tracker.leave(userId, groupId);
    if (payload.length > 0) writer.clear(topic);
  }
}

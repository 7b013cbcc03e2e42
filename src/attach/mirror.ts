import type { UserData } from '../core/events.js';

/** A birth the bridge holds as live: the connection's announcement topic, epoch and the payload itself. */
export interface LiveBirth {
  userId: string;
  clientId: string;
  epoch?: string;
  data?: UserData;
  /** The birth as published, so it can be restored if the broker's retained copy is lost. */
  payload: Buffer;
}

/** Connection topics whose ended epochs are remembered, oldest forgotten first; and epochs per topic. */
const ENDED_TOPICS_CAP = 100_000;
const ENDED_PER_TOPIC = 8;

/**
 * The bridge's picture of the broker's retained announcements, kept in step with the messages it
 * receives (a broker delivers each topic's messages in order). It answers the questions the bridge
 * must ask of every announcement: which birth is live on this topic, did this epoch already end, and
 * who needs reconciling after a resync.
 */
export class RetainedMirror {
  private births = new Map<string, LiveBirth>();
  private members = new Map<string, Set<string>>();
  private readonly ended = new Map<string, string[]>();

  live(topic: string): LiveBirth | undefined {
    return this.births.get(topic);
  }

  setLive(topic: string, birth: LiveBirth): void {
    this.births.set(topic, birth);
  }

  /** The live birth on `topic` ended; a birth with the same epoch seen later is stale. */
  end(topic: string): void {
    const birth = this.births.get(topic);
    this.births.delete(topic);
    if (birth?.epoch === undefined) return;
    const epochs = [...(this.ended.get(topic) ?? []), birth.epoch].slice(-ENDED_PER_TOPIC);
    this.ended.delete(topic);
    this.ended.set(topic, epochs);
    if (this.ended.size > ENDED_TOPICS_CAP) this.ended.delete(this.ended.keys().next().value!);
  }

  /** True for an epoch that already ended on this topic: a birth carrying it is a replay. */
  isEnded(topic: string, epoch: string | undefined): boolean {
    return epoch !== undefined && (this.ended.get(topic)?.includes(epoch) ?? false);
  }

  join(userId: string, groupId: string): void {
    let groups = this.members.get(userId);
    if (!groups) this.members.set(userId, (groups = new Set()));
    groups.add(groupId);
  }

  isMember(userId: string, groupId: string): boolean {
    return this.members.get(userId)?.has(groupId) ?? false;
  }

  leave(userId: string, groupId: string): void {
    const groups = this.members.get(userId);
    if (!groups) return;
    groups.delete(groupId);
    if (groups.size === 0) this.members.delete(userId);
  }

  /** Replaces everything but the ended epochs (a resync's new truth). */
  replace(births: Map<string, LiveBirth>, members: Map<string, Set<string>>): void {
    this.births = births;
    this.members = members;
  }

  /** Every user with a live birth or a membership. */
  userIds(): Set<string> {
    const ids = new Set(this.members.keys());
    for (const birth of this.births.values()) ids.add(birth.userId);
    return ids;
  }

  get liveCount(): number {
    return this.births.size;
  }
}

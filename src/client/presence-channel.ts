import type { ProductTopic } from '../protocol/topics.js';
import { checkIds, refusedFilters, type Channel, type ChannelContext } from './channel.js';
import { ERROR_CODE, failure } from './errors.js';
import { parseGroupEvent, parseUserEvent } from './payloads.js';
import { expandInterval, parseIntervalPayload } from './interval-expansion.js';
import { PresenceView } from './presence-view.js';
import { SnapshotGate, type HeldEvent } from './snapshot-gate.js';
import type { GroupHereNowResult, GroupRoster, HereNowResult, UserPresenceEvent } from './types.js';

/**
 * Watching: `presence/user/<id>` (retained, so a subscription answers with the current state at once)
 * and `presence/group/<id>`. Events go through the view, which drops stale ones and tells a learned
 * snapshot from a change; only changes reach USER_PRESENCE / GROUP_PRESENCE handlers.
 */
export class PresenceChannel implements Channel {
  private readonly view = new PresenceView();
  private readonly gate = new SnapshotGate();
  /** Told when a watched group's interval was truncated: the roster must be re-read (client.ts). */
  onTruncated: (groupId: string) => void = () => {};

  constructor(private readonly ctx: ChannelContext) {}

  presenceOf(userId: string): UserPresenceEvent | undefined {
    return this.view.presenceOf(userId);
  }

  groupMembers(groupId: string): GroupRoster | undefined {
    return this.view.roster(groupId);
  }

  /**
   * A hereNow snapshot without gap: the users' events arriving while it is in flight are held back,
   * then applied after the answer has been handed to the caller (in a later task, so the caller's
   * `await` or `onSuccess` runs first), those at or below the user's seq in the answer dropped.
   */
  async snapshotUsers(userIds: string[], ask: () => Promise<HereNowResult>): Promise<HereNowResult> {
    const hold = this.gate.open(userIds, []);
    try {
      const result = await ask();
      this.gate.usersAnswered(result.users);
      return result;
    } finally {
      setTimeout(() => this.release(this.gate.close(hold)), 0);
    }
  }

  /** The same for a group's events; a watched group's roster is seeded from the page first. */
  async snapshotGroup(groupId: string, ask: () => Promise<GroupHereNowResult>): Promise<GroupHereNowResult> {
    const hold = this.gate.open([], [groupId]);
    try {
      const result = await ask();
      this.view.seedGroup(result);
      this.gate.groupAnswered(groupId, result.members);
      return result;
    } finally {
      setTimeout(() => this.release(this.gate.close(hold)), 0);
    }
  }

  /** Group events are not retained: those of a connection's absence are gone, rosters are no longer complete. */
  connectionLost(): void {
    this.view.forgetCompleteness();
  }

  get watchedUsers(): string[] {
    return this.view.watchedUsers;
  }

  get watchedGroups(): string[] {
    return this.view.watchedGroups;
  }

  async subscribeUsers(userIds: unknown): Promise<void> {
    const ids = checkIds(userIds, 'userIds');
    const filters = ids.map((id) => this.ctx.topics.user(id));
    await this.watch(filters, () => this.view.watchUsers(ids), (added) => this.view.unwatchUsers(added));
  }

  async unsubscribeUsers(userIds: unknown): Promise<void> {
    const ids = checkIds(userIds, 'userIds');
    await this.ctx.io('unsubscribe', (t) => t.unsubscribe(ids.map((id) => this.ctx.topics.user(id))));
    this.view.unwatchUsers(ids);
  }

  async subscribeGroups(groupIds: unknown): Promise<void> {
    const ids = checkIds(groupIds, 'groupIds');
    const filters = ids.map((id) => this.ctx.topics.group(id));
    await this.watch(filters, () => this.view.watchGroups(ids), (added) => this.view.unwatchGroups(added));
  }

  async unsubscribeGroups(groupIds: unknown): Promise<void> {
    const ids = checkIds(groupIds, 'groupIds');
    await this.ctx.io('unsubscribe', (t) => t.unsubscribe(ids.map((id) => this.ctx.topics.group(id))));
    this.view.unwatchGroups(ids);
  }

  /** Watches before subscribing (the retained answer may beat the SUBACK), undoes it on failure. */
  private async watch(filters: string[], watch: () => string[], unwatch: (added: string[]) => void): Promise<void> {
    const added = watch();
    try {
      const granted = await this.ctx.io('subscribe', (t) => t.subscribe(filters));
      const refused = refusedFilters(filters, granted);
      if (refused) throw refused;
    } catch (error) {
      unwatch(added);
      throw error;
    }
  }

  async resume(): Promise<void> {
    const filters = [
      ...this.view.watchedUsers.map((id) => this.ctx.topics.user(id)),
      ...this.view.watchedGroups.map((id) => this.ctx.topics.group(id)),
    ];
    if (filters.length === 0) return;
    const granted = await this.ctx.io('subscribe', (t) => t.subscribe(filters));
    const refused = refusedFilters(filters, granted);
    if (refused) throw refused;
  }

  route(target: ProductTopic, payload: Uint8Array, retained: boolean): boolean {
    if (target.kind === 'user') {
      const parsed = parseUserEvent(payload, target.userId);
      if (!parsed.ok) return this.invalid(this.ctx.topics.user(target.userId), parsed.reason);
      const held: HeldEvent = { kind: 'user', event: parsed.value, retained, floor: -1 };
      if (!this.gate.offer(held)) this.apply(held);
      return true;
    }
    if (target.kind === 'group') {
      const parsed = parseGroupEvent(payload, target.groupId);
      if (!parsed.ok) return this.interval(target.groupId, payload) ?? this.invalid(this.ctx.topics.group(target.groupId), parsed.reason);
      const held: HeldEvent = { kind: 'group', event: parsed.value, floor: -1 };
      if (!this.gate.offer(held)) this.apply(held);
      return true;
    }
    return false;
  }

  /**
   * A large group's interval event, expanded into one group event per listed user, each taking the
   * path a per-member event takes; a truncated one also asks for the roster to be re-read. Undefined
   * when the payload is no interval event.
   */
  private interval(groupId: string, payload: Uint8Array): true | undefined {
    const parsed = parseIntervalPayload(payload, groupId);
    if (!parsed) return undefined;
    if (!parsed.ok) return this.invalid(this.ctx.topics.group(groupId), parsed.reason);
    for (const event of expandInterval(parsed.value, this.view.roster(groupId))) {
      const held: HeldEvent = { kind: 'group', event, floor: -1 };
      if (!this.gate.offer(held)) this.apply(held);
    }
    if (parsed.value.truncated && this.view.watchedGroups.includes(groupId)) this.onTruncated(groupId);
    return true;
  }

  private release(events: HeldEvent[]): void {
    for (const held of events) this.apply(held);
  }

  /**
   * Into the view, and to the handlers when it is news. An event at or below its floor is already in
   * a snapshot the application was handed: the view still learns it (presenceOf), handlers do not.
   */
  private apply(held: HeldEvent): void {
    if (held.kind === 'user') {
      const verdict = this.view.user(held.event, held.retained);
      if (held.event.seq <= held.floor) return;
      if (verdict === 'change') this.ctx.emit('USER_PRESENCE', held.event);
      else if (verdict === 'snapshot') this.ctx.emit('SNAPSHOT', held.event);
      return;
    }
    // A seeded roster already holds the member's floor, so such an event is stale for the view too.
    if (this.view.group(held.event) === 'change' && held.event.seq > held.floor) this.ctx.emit('GROUP_PRESENCE', held.event);
  }

  private invalid(topic: string, reason: string): true {
    this.ctx.report(failure(ERROR_CODE.INTERNAL, `ignored an invalid event on ${topic}: ${reason}`));
    return true;
  }
}

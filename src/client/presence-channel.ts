import type { ProductTopic } from '../topics.js';
import { checkIds, refusedFilters, type Channel, type ChannelContext } from './channel.js';
import { ERROR_CODE, failure } from './errors.js';
import { parseGroupEvent, parseUserEvent } from './payloads.js';
import { PresenceView } from './presence-view.js';
import type { UserPresenceEvent } from './types.js';

/**
 * Watching: `presence/user/<id>` (retained, so a subscription answers with the current state at once)
 * and `presence/group/<id>`. Events go through the view, which drops stale ones and tells a learned
 * snapshot from a change; only changes reach USER_PRESENCE / GROUP_PRESENCE handlers.
 */
export class PresenceChannel implements Channel {
  private readonly view = new PresenceView();

  constructor(private readonly ctx: ChannelContext) {}

  presenceOf(userId: string): UserPresenceEvent | undefined {
    return this.view.presenceOf(userId);
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
      const verdict = this.view.user(parsed.value, retained);
      if (verdict === 'change') this.ctx.emit('USER_PRESENCE', parsed.value);
      else if (verdict === 'snapshot') this.ctx.emit('SNAPSHOT', parsed.value);
      return true;
    }
    if (target.kind === 'group') {
      const parsed = parseGroupEvent(payload, target.groupId);
      if (!parsed.ok) return this.invalid(this.ctx.topics.group(target.groupId), parsed.reason);
      if (this.view.group(parsed.value) === 'change') this.ctx.emit('GROUP_PRESENCE', parsed.value);
      return true;
    }
    return false;
  }

  private invalid(topic: string, reason: string): true {
    this.ctx.report(failure(ERROR_CODE.INTERNAL, `ignored an invalid event on ${topic}: ${reason}`));
    return true;
  }
}

import { checkIds, refusedFilters, type Channel, type ChannelContext } from './channel.js';
import { JOIN_ANNOUNCEMENT, LEAVE_ANNOUNCEMENT } from './payloads.js';

/**
 * Group membership, GoEasy's subscribeGroup: subscribing to `group/<g>` is membership for the
 * embedded broker, and the retained announcement on `presence/member/<g>/<user>` is membership for
 * attach mode; doing both makes the same client correct against either (the broker treats the
 * second as the idempotent repeat it is). Leaving undoes both: UNSUBSCRIBE and an empty retained payload.
 */
export class MembershipChannel implements Channel {
  private readonly groups = new Set<string>();

  constructor(private readonly ctx: ChannelContext) {}

  get memberOf(): string[] {
    return [...this.groups];
  }

  async join(groupIds: unknown): Promise<void> {
    const ids = checkIds(groupIds, 'groupIds');
    await this.enter(ids);
    for (const id of ids) this.groups.add(id);
  }

  async leave(groupIds: unknown): Promise<void> {
    const ids = checkIds(groupIds, 'groupIds');
    const { topics, userId } = this.ctx;
    await this.ctx.io('unsubscribe', (t) => t.unsubscribe(ids.map((id) => topics.groupTopic(id))));
    for (const id of ids) this.groups.delete(id);
    await this.ctx.io('publish', (t) =>
      Promise.all(ids.map((id) => t.publish(topics.member(id, userId), LEAVE_ANNOUNCEMENT, { qos: 1, retain: true }))),
    );
  }

  /** After a reconnect the clean session has no subscriptions: the user comes back `online`, not `join`. */
  async resume(): Promise<void> {
    if (this.groups.size > 0) await this.enter([...this.groups]);
  }

  route(): boolean {
    return false;
  }

  private async enter(ids: string[]): Promise<void> {
    const { topics, userId } = this.ctx;
    const filters = ids.map((id) => topics.groupTopic(id));
    const granted = await this.ctx.io('subscribe', (t) => t.subscribe(filters));
    const refused = refusedFilters(filters, granted);
    if (refused) throw refused;
    await this.ctx.io('publish', (t) =>
      Promise.all(ids.map((id) => t.publish(topics.member(id, userId), JOIN_ANNOUNCEMENT, { qos: 1, retain: true }))),
    );
  }
}

import type { Topics } from '../protocol/topics.js';
import { settle } from './calls.js';
import { checkId, checkIds, type Channel, type ChannelContext, type ClientEvents } from './channel.js';
import { checkConnectOptions, type ConnectOptions } from './connect-options.js';
import { Connection } from './connection.js';
import { ERROR_CODE, failure, fromTransportError } from './errors.js';
import { Handlers, type Handler } from './handlers.js';
import { MembershipChannel } from './membership-channel.js';
import { checkResult } from './payloads.js';
import { RosterRefresh } from './interval-expansion.js';
import { checkUpdateData, updateAnnouncement, type UpdatePresenceCall } from './data-update.js';
import { PresenceChannel } from './presence-channel.js';
import { QueryChannel } from './query-channel.js';
import type {
  Callbacks,
  ConnectionStatus,
  GroupHereNowResult,
  GroupOnlineCountResult,
  GroupRoster,
  HereNowResult,
  UserData,
  UserPresenceEvent,
  WhereNowResult,
} from './types.js';
import type { Checked } from '../protocol/guards.js';

export type { ConnectOptions } from './connect-options.js';

export interface UserIdsCall extends Callbacks {
  userIds: string[];
}

export interface GroupIdsCall extends Callbacks {
  groupIds?: string[];
  /** GoEasy's `unsubscribeGroup` names one group; either form is accepted. */
  groupId?: string;
}

export interface HereNowCall extends Callbacks<HereNowResult> {
  userIds: string[];
}

export interface GroupHereNowCall extends Callbacks<GroupHereNowResult> {
  groupId: string;
  /** Page size (the server's default when omitted; at most its page size limit). */
  limit?: number;
  offset?: number;
}

export interface GroupOnlineCountCall extends Callbacks<GroupOnlineCountResult> {
  groupIds: string[];
}

export interface WhereNowCall extends Callbacks<WhereNowResult> {
  userId: string;
}

/** Connects a user; resolves (and calls `onSuccess`) with the connected client. */
export function connect(options: ConnectOptions): Promise<PresenceClient> {
  return settle(async () => {
    const client = new PresenceClient(options);
    await client.open();
    return client;
  }, options);
}

/**
 * A user's presence connection, GoEasy-shaped. It follows the announcement protocol: a will on
 * `presence/conn/<user>/<clientId>` carrying the user data and a fresh epoch per connection, a birth
 * with the same epoch right after every CONNACK, and an offline announcement before a graceful
 * DISCONNECT. After a network break the transport reconnects and every channel restores its
 * subscriptions, so handlers keep working without the application doing anything.
 */
export class PresenceClient {
  readonly userId: string;
  readonly clientId: string;
  /** The latest data (connect, then each updatePresence): every birth and will carries it. */
  private data: UserData;
  private readonly topics: Topics;
  private readonly presence: PresenceChannel;
  private readonly membership: MembershipChannel;
  private readonly queries: QueryChannel;
  private readonly channels: Channel[];
  private readonly handlers = new Handlers();
  private readonly connection: Connection;

  /** Use `connect()`; the constructor only checks the options. */
  constructor(options: ConnectOptions) {
    const settings = checkConnectOptions(options);
    this.userId = settings.userId;
    this.clientId = settings.clientId;
    this.data = settings.data;
    this.topics = settings.topics;
    const ctx = this.channelContext();
    this.presence = new PresenceChannel(ctx);
    const refresh = new RosterRefresh((groupId, offset) => this.groupHereNow({ groupId, offset }), (error) => this.report(error));
    this.presence.onTruncated = (groupId) => refresh.request(groupId);
    this.membership = new MembershipChannel(ctx);
    this.queries = new QueryChannel(ctx, settings.timeoutMs);
    this.channels = [this.queries, this.presence, this.membership];
    this.connection = new Connection(settings, {
      data: () => this.data,
      channels: this.channels,
      openWith: this.queries,
      message: (topic, payload, retained) => this.route(topic, payload, retained),
      emit: (event, payload) => this.emit(event, payload),
      report: (error) => this.report(error),
    });
  }

  /** `connected`, `reconnecting` or `disconnected` (`connecting` until the first CONNACK). */
  get status(): ConnectionStatus | 'connecting' {
    return this.connection.status;
  }

  on<K extends keyof ClientEvents>(event: K, handler: Handler<K>): this {
    this.handlers.add(event, handler);
    return this;
  }

  off<K extends keyof ClientEvents>(event: K, handler: Handler<K>): this {
    this.handlers.remove(event, handler);
    return this;
  }

  /**
   * The latest known event of a user watched with subscribeUserPresence (from the retained
   * message or a later live event); undefined while unknown, or for users not watched.
   */
  presenceOf(userId: string): UserPresenceEvent | undefined {
    return this.presence.presenceOf(userId);
  }

  /**
   * A group watched with subscribeGroupPresence, as this client knows it: seeded by groupHereNow
   * (complete when one page held every member) and kept current by the group's events. Undefined
   * for a group not watched.
   */
  groupMembers(groupId: string): GroupRoster | undefined {
    return this.presence.groupMembers(groupId);
  }

  /**
   * Changes this user's data without reconnecting: watchers get an `update` event (nothing when the
   * data is the same). Resolves once the server acknowledged the announcement; later births and wills
   * carry the new data. Fails with INVALID_ARGUMENT (not a JSON object, over 1 KiB) or NOT_CONNECTED.
   * The server may still refuse it (its user list provides the data; over 30 updates a minute):
   * that is logged and counted there, and the data watchers see stays as it was.
   */
  updatePresence(call: UpdatePresenceCall): Promise<void> {
    return settle(() => {
      const data = checkUpdateData(call?.data);
      const payload = updateAnnouncement(data, this.connection.epoch);
      return this.connection.io('update', (t) => {
        this.data = data;
        return t.publish(this.topics.conn(this.userId, this.clientId), payload, { qos: 1, retain: true });
      });
    }, call);
  }

  /** Groups this user is a member of through this client (subscribeGroup). */
  get groups(): string[] {
    return this.membership.memberOf;
  }

  subscribeUserPresence(call: UserIdsCall): Promise<void> {
    return settle(() => this.presence.subscribeUsers(call?.userIds), call);
  }

  unsubscribeUserPresence(call: UserIdsCall): Promise<void> {
    return settle(() => this.presence.unsubscribeUsers(call?.userIds), call);
  }

  subscribeGroupPresence(call: GroupIdsCall): Promise<void> {
    return settle(() => this.presence.subscribeGroups(groupIdsOf(call)), call);
  }

  unsubscribeGroupPresence(call: GroupIdsCall): Promise<void> {
    return settle(() => this.presence.unsubscribeGroups(groupIdsOf(call)), call);
  }

  /** Membership: join the groups (GoEasy's subscribeGroup). */
  subscribeGroup(call: GroupIdsCall): Promise<void> {
    return settle(() => this.membership.join(groupIdsOf(call)), call);
  }

  /** Leave the groups: an explicit leave, seen by every member as `leave`. */
  unsubscribeGroup(call: GroupIdsCall): Promise<void> {
    return settle(() => this.membership.leave(groupIdsOf(call)), call);
  }

  /**
   * Online state and data of each user. A snapshot: events of watched users arriving while it is in
   * flight reach handlers after it, and only those newer than the answer (docs/client.md).
   */
  hereNow(call: HereNowCall): Promise<HereNowResult> {
    return settle(() => {
      const userIds = checkIds(call?.userIds, 'userIds');
      return this.presence.snapshotUsers(userIds, () => this.ask('hereNow', { userIds }, checkResult.hereNow));
    }, call);
  }

  /** One page of a group's members, online first. A snapshot, as hereNow; it also seeds `groupMembers`. */
  groupHereNow(call: GroupHereNowCall): Promise<GroupHereNowResult> {
    return settle(() => {
      const groupId = checkId(call?.groupId, 'groupId');
      const params: Record<string, unknown> = { groupId };
      for (const key of ['limit', 'offset'] as const) {
        const value = call[key];
        if (value === undefined) continue;
        if (!Number.isSafeInteger(value) || value < 0) throw failure(ERROR_CODE.INVALID_ARGUMENT, `${key} must be a non-negative integer`);
        params[key] = value;
      }
      return this.presence.snapshotGroup(groupId, () => this.ask('groupHereNow', params, checkResult.groupHereNow));
    }, call);
  }

  /** How many members of each group are online. */
  groupOnlineCount(call: GroupOnlineCountCall): Promise<GroupOnlineCountResult> {
    return settle(() => this.ask('groupOnlineCount', { groupIds: checkIds(call?.groupIds, 'groupIds') }, checkResult.groupOnlineCount), call);
  }

  /** The groups a user is a member of. */
  whereNow(call: WhereNowCall): Promise<WhereNowResult> {
    return settle(() => {
      const userId = checkId(call?.userId, 'userId');
      return this.ask('whereNow', { userId }, checkResult.whereNow);
    }, call);
  }

  private async ask<T>(method: string, params: Record<string, unknown>, check: (value: unknown) => Checked<T>): Promise<T> {
    const checked = check(await this.queries.request(method, params));
    if (!checked.ok) throw failure(ERROR_CODE.INTERNAL, `the server's answer to ${method} is invalid: ${checked.reason}`);
    return checked.value;
  }

  /**
   * Announces the offline, then DISCONNECTs. Watchers see `offline` with reason `disconnect`.
   * Safe to call twice and while reconnecting (then there is nobody to tell; the server already
   * saw the connection go).
   */
  disconnect(call: Callbacks = {}): Promise<void> {
    return settle(() => this.connection.close(), call);
  }

  /** Opens the first connection: resolves after CONNACK and the birth, rejects on the first failure. */
  open(): Promise<void> {
    return this.connection.open();
  }

  private route(topic: string, payload: Uint8Array, retained: boolean): void {
    if (!this.topics.isUnderPrefix(topic)) return;
    const target = this.topics.parse(topic);
    for (const channel of this.channels) if (channel.route(target, payload, retained)) return;
  }

  private channelContext(): ChannelContext {
    return {
      topics: this.topics,
      userId: this.userId,
      clientId: this.clientId,
      io: (what, operation) => this.connection.io(what, operation),
      emit: (event, payload) => this.emit(event, payload),
      report: (error) => this.report(error),
    };
  }

  private report(error: unknown): void {
    const { code, content } = fromTransportError(error);
    this.emit('ERROR', { code, content });
  }

  private emit<K extends keyof ClientEvents>(event: K, payload: ClientEvents[K]): void {
    this.handlers.emit(event, payload);
  }
}

function groupIdsOf(call: GroupIdsCall | undefined): unknown {
  if (call?.groupIds !== undefined) return call.groupIds;
  return call?.groupId === undefined ? undefined : [call.groupId];
}

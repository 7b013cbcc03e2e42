import { MAX_ID_LENGTH, invalidIdReason } from '../protocol/ids.js';
import { DEFAULT_LAYOUT, Topics, type TopicLayout } from '../protocol/topics.js';
import { settle, within } from './calls.js';
import { checkId, checkIds, type Channel, type ChannelContext, type ClientEvents } from './channel.js';
import { ERROR_CODE, failure, fromTransportError, isFinalRefusal } from './errors.js';
import { MembershipChannel } from './membership-channel.js';
import { mqttTransport } from './mqtt-transport.js';
import { checkResult, connAnnouncement, gracefulOffline, newEpoch } from './payloads.js';
import { RosterRefresh } from './interval-expansion.js';
import { checkUpdateData, updateAnnouncement, type UpdatePresenceCall } from './data-update.js';
import { PresenceChannel } from './presence-channel.js';
import { QueryChannel } from './query-channel.js';
import type { Transport, TransportFactory } from './transport.js';
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

export interface ConnectOptions extends Callbacks<PresenceClient> {
  /** `mqtt://host:1883`, or `ws://host:8080/mqtt` (browsers). */
  url: string;
  /** The user id (sent as the MQTT username). */
  id: string;
  /** Shown to everyone watching this user, e.g. `{name, avatar}`; a JSON object. */
  data?: UserData;
  password?: string;
  /** The connection id; default `<id>-<random>`, so every tab or device is its own connection. */
  clientId?: string;
  /** Per-call and CONNECT timeout (default 10 s). */
  timeoutMs?: number;
  /** Delay between reconnection attempts (default 1 s); 0 turns reconnection off. */
  reconnectPeriodMs?: number;
  /** MQTT keepalive (default 30 s): a dead link is noticed after 1.5 times this. */
  keepaliveSeconds?: number;
  /** Topic prefixes, when the server was started with other ones. */
  layout?: Partial<TopicLayout>;
  /** The MQTT transport (default mqtt.js). */
  transport?: TransportFactory;
}

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

type Handler<K extends keyof ClientEvents> = (payload: ClientEvents[K]) => void;

const DEFAULT_TIMEOUT_MS = 10_000;

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
  private readonly timeoutMs: number;
  private readonly keepaliveSeconds: number;
  private readonly reconnectPeriodMs: number;
  private readonly presence: PresenceChannel;
  private readonly membership: MembershipChannel;
  private readonly queries: QueryChannel;
  private readonly channels: Channel[];
  private readonly handlers = new Map<keyof ClientEvents, Set<(payload: never) => void>>();
  private transport: Transport | undefined;
  private epoch = '';
  private currentStatus: ConnectionStatus | 'connecting' = 'connecting';
  private ending = false;

  /** Use `connect()`; the constructor only checks the options. */
  constructor(private readonly options: ConnectOptions) {
    const { url, id, data = {}, password } = options;
    if (typeof url !== 'string' || !/^(mqtts?|wss?|tcp|tls):\/\//.test(url)) {
      throw failure(ERROR_CODE.INVALID_ARGUMENT, `url must be an mqtt://, mqtts://, ws:// or wss:// URL, not ${JSON.stringify(url)}`);
    }
    const idProblem = invalidIdReason(id);
    if (idProblem) throw failure(ERROR_CODE.INVALID_ARGUMENT, `id ${JSON.stringify(id)} is not a valid user id: ${idProblem}`);
    const clientId = options.clientId ?? defaultClientId(id);
    const clientIdProblem = invalidIdReason(clientId);
    if (clientIdProblem || typeof clientId !== 'string') throw failure(ERROR_CODE.INVALID_ARGUMENT, `clientId ${JSON.stringify(clientId)} is not valid: ${clientIdProblem}`);
    if (data === null || typeof data !== 'object' || Array.isArray(data)) {
      throw failure(ERROR_CODE.INVALID_ARGUMENT, 'data must be a JSON object');
    }
    if (password !== undefined && typeof password !== 'string') throw failure(ERROR_CODE.INVALID_ARGUMENT, 'password must be a string');
    this.userId = id;
    this.clientId = clientId;
    this.data = plainJson(data);
    this.topics = new Topics({ ...DEFAULT_LAYOUT, ...options.layout });
    this.timeoutMs = positive(options.timeoutMs, DEFAULT_TIMEOUT_MS, 'timeoutMs');
    this.keepaliveSeconds = positive(options.keepaliveSeconds, 30, 'keepaliveSeconds');
    this.reconnectPeriodMs = options.reconnectPeriodMs === 0 ? 0 : positive(options.reconnectPeriodMs, 1000, 'reconnectPeriodMs');
    const ctx = this.channelContext();
    this.presence = new PresenceChannel(ctx);
    const refresh = new RosterRefresh((groupId, offset) => this.groupHereNow({ groupId, offset }), (error) => this.report(error));
    this.presence.onTruncated = (groupId) => refresh.request(groupId);
    this.membership = new MembershipChannel(ctx);
    this.queries = new QueryChannel(ctx, this.timeoutMs);
    this.channels = [this.queries, this.presence, this.membership];
  }

  /** `connected`, `reconnecting` or `disconnected` (`connecting` until the first CONNACK). */
  get status(): ConnectionStatus | 'connecting' {
    return this.currentStatus;
  }

  on<K extends keyof ClientEvents>(event: K, handler: Handler<K>): this {
    if (!this.handlers.has(event)) this.handlers.set(event, new Set());
    this.handlers.get(event)!.add(handler as (payload: never) => void);
    return this;
  }

  off<K extends keyof ClientEvents>(event: K, handler: Handler<K>): this {
    this.handlers.get(event)?.delete(handler as (payload: never) => void);
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
      const payload = updateAnnouncement(data, this.epoch);
      return this.io('update', (t) => {
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
    return settle(async () => {
      const transport = this.transport;
      if (this.ending || !transport) return;
      this.ending = true;
      if (transport.connected) {
        const offline = gracefulOffline(this.data, this.epoch);
        await within(transport.publish(this.topics.conn(this.userId, this.clientId), offline, { qos: 1, retain: true }), this.timeoutMs, () =>
          failure(ERROR_CODE.TIMEOUT, 'the offline announcement was not acknowledged in time'),
        ).catch(() => {});
        await within(transport.end(), this.timeoutMs, () => failure(ERROR_CODE.TIMEOUT, 'DISCONNECT did not complete')).catch(() => {});
      }
      transport.destroy();
      for (const channel of this.channels) channel.connectionLost?.();
      this.setStatus('disconnected');
    }, call);
  }

  /** Opens the first connection: resolves after CONNACK and the birth, rejects on the first failure. */
  async open(): Promise<void> {
    let settled = false;
    let resolveOpen!: () => void;
    let rejectOpen!: (error: unknown) => void;
    const opened = new Promise<void>((resolve, reject) => {
      resolveOpen = resolve;
      rejectOpen = reject;
    });
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      this.ending = true;
      this.transport?.destroy();
      this.currentStatus = 'disconnected';
      rejectOpen(error);
    };
    const factory = this.options.transport ?? mqttTransport;
    this.transport = factory(
      {
        url: this.options.url,
        clientId: this.clientId,
        username: this.userId,
        password: this.options.password,
        keepaliveSeconds: this.keepaliveSeconds,
        reconnectPeriodMs: this.reconnectPeriodMs,
        connectTimeoutMs: this.timeoutMs,
        will: () => {
          this.epoch = newEpoch();
          return { topic: this.topics.conn(this.userId, this.clientId), payload: connAnnouncement('offline', this.data, this.epoch), qos: 1, retain: true };
        },
      },
      {
        connected: () => {
          if (!settled) {
            // The reply topic is subscribed alongside the birth, so queries work as soon as connect() resolves.
            Promise.all([this.announceBirth(), this.queries.resume()]).then(() => {
              if (settled) return;
              settled = true;
              this.setStatus('connected');
              resolveOpen();
            }, fail);
          } else if (!this.ending) {
            void this.resume();
          }
        },
        connectionLost: () => {
          if (!settled) return fail(failure(ERROR_CODE.UNREACHABLE, 'the server closed the connection before accepting it'));
          if (this.ending) return;
          for (const channel of this.channels) channel.connectionLost?.();
          this.setStatus(this.reconnectPeriodMs === 0 ? 'disconnected' : 'reconnecting');
        },
        error: (error) => {
          if (!settled) return fail(error);
          if (this.ending) return;
          this.report(error);
          if (isFinalRefusal(error)) {
            // Refused on a reconnect for good (credentials changed, id banned): stop trying.
            this.ending = true;
            this.transport?.destroy();
            this.setStatus('disconnected');
          }
        },
        message: (topic, payload, retained) => this.route(topic, payload, retained),
      },
    );
    await within(opened, this.timeoutMs, () => failure(ERROR_CODE.TIMEOUT, `no CONNACK from ${this.options.url} within ${this.timeoutMs} ms`)).catch(
      (error: unknown) => {
        fail(error);
        throw error;
      },
    );
  }

  /** After a reconnect: the birth (new epoch), then every channel restores its subscriptions. */
  private async resume(): Promise<void> {
    try {
      await this.announceBirth();
      for (const channel of this.channels) await channel.resume();
      if (!this.ending) this.setStatus('connected');
    } catch (error) {
      // Lost again mid-way: the next CONNACK resumes from the start.
      if (this.transport?.connected) this.report(error);
    }
  }

  private announceBirth(): Promise<void> {
    const birth = connAnnouncement('online', this.data, this.epoch);
    return this.io('publish', (t) => t.publish(this.topics.conn(this.userId, this.clientId), birth, { qos: 1, retain: true }));
  }

  private route(topic: string, payload: Uint8Array, retained: boolean): void {
    if (!this.topics.isUnderPrefix(topic)) return;
    const target = this.topics.parse(topic);
    for (const channel of this.channels) if (channel.route(target, payload, retained)) return;
  }

  private io<T>(what: string, operation: (transport: Transport) => Promise<T>): Promise<T> {
    const transport = this.transport;
    if (!transport || !transport.connected || this.ending) {
      const state = this.ending || this.currentStatus === 'disconnected' ? 'disconnected' : 'reconnecting';
      return Promise.reject(failure(ERROR_CODE.NOT_CONNECTED, `cannot ${what}: the client is ${state}`));
    }
    return within(operation(transport), this.timeoutMs, () => failure(ERROR_CODE.TIMEOUT, `${what} was not acknowledged within ${this.timeoutMs} ms`));
  }

  private channelContext(): ChannelContext {
    return {
      topics: this.topics,
      userId: this.userId,
      clientId: this.clientId,
      io: (what, operation) => this.io(what, operation),
      emit: (event, payload) => this.emit(event, payload),
      report: (error) => this.report(error),
    };
  }

  private report(error: unknown): void {
    const { code, content } = fromTransportError(error);
    this.emit('ERROR', { code, content });
  }

  private setStatus(status: ConnectionStatus): void {
    if (this.currentStatus === status) return;
    this.currentStatus = status;
    this.emit('CONNECTION', { status });
  }

  /** A throwing handler neither stops the others nor the client; its error is rethrown on its own. */
  private emit<K extends keyof ClientEvents>(event: K, payload: ClientEvents[K]): void {
    for (const handler of this.handlers.get(event) ?? []) {
      try {
        (handler as Handler<K>)(payload);
      } catch (error) {
        setTimeout(() => {
          throw error;
        });
      }
    }
  }
}

function groupIdsOf(call: GroupIdsCall | undefined): unknown {
  if (call?.groupIds !== undefined) return call.groupIds;
  return call?.groupId === undefined ? undefined : [call.groupId];
}

/** `<id>-<8 hex>`, the id shortened when needed so the whole stays a valid id (at most 128 characters). */
function defaultClientId(id: string): string {
  return `${Array.from(id).slice(0, MAX_ID_LENGTH - 9).join('')}-${newEpoch().slice(0, 8)}`;
}

function plainJson(data: UserData): UserData {
  try {
    return JSON.parse(JSON.stringify(data)) as UserData;
  } catch (error) {
    throw failure(ERROR_CODE.INVALID_ARGUMENT, `data must be serializable as JSON: ${(error as Error).message}`);
  }
}

function positive(value: unknown, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw failure(ERROR_CODE.INVALID_ARGUMENT, `${name} must be a positive number`);
  }
  return value;
}

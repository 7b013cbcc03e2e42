/**
 * The event and query payloads as they go on the wire (PRODUCT.md "Events", docs/api.md), declared
 * once: the core produces them, the query service answers with them, the browser client reads them
 * (src/client/types.ts re-exports them under GoEasy's names). Types only: no I/O, no validation (the
 * server checks what it receives with ajv, the client with src/protocol/guards.ts).
 */

/** A user's `data`: a JSON object its connection declared (or a user list's, which wins). */
export type UserData = Record<string, unknown>;

/**
 * Why a user went offline, as the server publishes `reason` on offline events. The list is open
 * (PRODUCT.md: "..."), so the events take the reason type as a parameter: the server states the ones
 * it produces, a reader (the client) accepts any string.
 */
export type OfflineReason =
  | 'disconnect'
  | 'connection_lost'
  | 'keepalive_timeout'
  | 'server_shutdown'
  | 'takeover'
  | 'announced'
  | 'token_expired'
  | 'vanished'
  /** The node holding the connection stopped renewing its liveness record (cluster mode). */
  | 'node_down'
  /** The broker restarted and the connection announced no new birth within the rebirth window (attach mode). */
  | 'broker_restart';

/** `update`: a connected user's `data` changed (an update announcement, or a birth with new data). */
export type UserAction = 'online' | 'offline' | 'update';
export type GroupAction = 'online' | 'offline' | 'join' | 'leave' | 'update';

/** Published retained on `presence/user/<id>`. */
export interface UserEvent<Reason extends string = OfflineReason> {
  /** Milliseconds since the epoch. */
  time: number;
  action: UserAction;
  id: string;
  data: UserData;
  /** Per user, strictly increasing across all of the user's events. */
  seq: number;
  /** On offline only. */
  reason?: Reason;
}

/** Published on `presence/group/<groupId>` (a large group's `interval` event is in interval.ts). */
export interface GroupEvent<Reason extends string = OfflineReason> {
  groupId: string;
  /** The group's online count right after this change. */
  groupOnlineCount: number;
  time: number;
  action: GroupAction;
  id: string;
  data: UserData;
  seq: number;
  reason?: Reason;
}

/** One user in a query result. */
export interface Member {
  id: string;
  online: boolean;
  data: UserData;
  /** The seq of the user's last event (0 when none is known): a client drops events at or below it. */
  seq: number;
  /** Offline users seen online before: when they last went offline (ms since the epoch). */
  lastSeen?: number;
}

/** `hereNow`: one entry per asked id, in the order asked. */
export interface HereNowResult {
  users: Member[];
}

/** `groupHereNow`: one page of a group's members. */
export interface GroupHereNowResult {
  groupId: string;
  /** Members in all, online or not. */
  total: number;
  onlineCount: number;
  offset: number;
  limit: number;
  /** This page: online members first, each part in join order. */
  members: Member[];
}

/** `groupOnlineCount`: each asked group's online count (0 for a group without members). */
export interface GroupOnlineCountResult {
  counts: Record<string, number>;
}

/** `whereNow`: the groups a user is a member of. */
export interface WhereNowResult {
  userId: string;
  groups: string[];
}

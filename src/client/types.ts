/**
 * What the client hands to applications: the product's event payloads, as published on
 * `presence/user/<id>` and `presence/group/<id>` (see docs/protocol.md), in GoEasy's shape.
 */
import type { GroupEvent, Member, UserEvent } from '../protocol/payloads.js';

export type { GroupHereNowResult, GroupOnlineCountResult, HereNowResult, UserData, WhereNowResult } from '../protocol/payloads.js';

/**
 * A user's event. `action` `update`: the user's data changed (updatePresence), it stays online.
 * `reason` on offline: `disconnect`, `connection_lost`, `keepalive_timeout`, `server_shutdown`, ... (an
 * open list: any string is passed on).
 */
export type UserPresenceEvent = UserEvent<string>;

export type GroupPresenceEvent = GroupEvent<string>;

/** One user in a query result: `seq` is the user's last event seq (0 when the server knows none). */
export type GroupMember = Member;

/**
 * A watched group's members as this client knows them: from a groupHereNow snapshot, kept current
 * by the group's events. `complete` when the snapshot listed every member and no event was missed since.
 */
export interface GroupRoster {
  groupId: string;
  complete: boolean;
  /** The group's online count from the latest snapshot or event; undefined before either. */
  onlineCount: number | undefined;
  members: GroupMember[];
}

/** The events an application listens to with `on()`, named as in GoEasy's `IM_EVENT`. */
export const IM_EVENT = {
  USER_PRESENCE: 'USER_PRESENCE',
  GROUP_PRESENCE: 'GROUP_PRESENCE',
} as const;

/** Events about the client itself (not in GoEasy): learned snapshots, connection state, background errors. */
export const CLIENT_EVENT = {
  /** A watched user's current state, learned from the retained message when first subscribed. */
  SNAPSHOT: 'SNAPSHOT',
  /** The connection's state changed: `connected`, `reconnecting` or `disconnected`. */
  CONNECTION: 'CONNECTION',
  /** Something failed with no call to report it to (e.g. re-subscribing after a reconnect). */
  ERROR: 'ERROR',
} as const;

export type ConnectionStatus = 'connected' | 'reconnecting' | 'disconnected';

/** GoEasy's callback pair; every call accepts it and also returns a Promise. */
export interface Callbacks<T = void> {
  onSuccess?: (result: T) => void;
  onFailed?: (error: { code: number; content: string }) => void;
}

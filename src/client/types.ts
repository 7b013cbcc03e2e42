/**
 * What the client hands to applications: the product's event payloads, as published on
 * `presence/user/<id>` and `presence/group/<id>` (see docs/protocol.md), in GoEasy's shape.
 */
export type UserData = Record<string, unknown>;

export interface UserPresenceEvent {
  time: number;
  /** `update`: the user's data changed (updatePresence), it stays online. */
  action: 'online' | 'offline' | 'update';
  id: string;
  data: UserData;
  /** Per user, strictly increasing across all of the user's events. */
  seq: number;
  /** On offline: `disconnect`, `connection_lost`, `keepalive_timeout`, `server_shutdown`, ... */
  reason?: string;
}

export interface GroupPresenceEvent {
  groupId: string;
  groupOnlineCount: number;
  time: number;
  action: 'online' | 'offline' | 'join' | 'leave' | 'update';
  id: string;
  data: UserData;
  seq: number;
  reason?: string;
}

/** One user in a query result: `seq` is the user's last event seq (0 when the server knows none). */
export interface GroupMember {
  id: string;
  online: boolean;
  data: UserData;
  seq: number;
  /** Offline users seen online before: when they last went offline (ms since the epoch). */
  lastSeen?: number;
}

export interface HereNowResult {
  users: GroupMember[];
}

export interface GroupHereNowResult {
  groupId: string;
  /** Members in all, online or not. */
  total: number;
  onlineCount: number;
  offset: number;
  limit: number;
  /** This page: online members first, each part in join order. */
  members: GroupMember[];
}

export interface GroupOnlineCountResult {
  counts: Record<string, number>;
}

export interface WhereNowResult {
  userId: string;
  groups: string[];
}

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

/**
 * What the client hands to applications: the product's event payloads, as published on
 * `presence/user/<id>` and `presence/group/<id>` (see docs/protocol.md), in GoEasy's shape.
 */
export type UserData = Record<string, unknown>;

export interface UserPresenceEvent {
  time: number;
  action: 'online' | 'offline';
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
  action: 'online' | 'offline' | 'join' | 'leave';
  id: string;
  data: UserData;
  seq: number;
  reason?: string;
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

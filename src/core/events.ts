/** The presence model's vocabulary: what goes in (signals) and what comes out (events). */

export type UserData = Record<string, unknown>;

/** Why a user went offline; published as `reason` on offline events. */
export type OfflineReason =
  | 'disconnect'
  | 'connection_lost'
  | 'keepalive_timeout'
  | 'server_shutdown'
  | 'takeover'
  | 'announced'
  | 'token_expired'
  | 'vanished'
  | 'broker_restart';

export type UserAction = 'online' | 'offline';
export type GroupAction = 'online' | 'offline' | 'join' | 'leave';

/** Published retained on `presence/user/<id>`. */
export interface UserEvent {
  time: number;
  action: UserAction;
  id: string;
  data: UserData;
  seq: number;
  reason?: OfflineReason;
}

/** Published on `presence/group/<groupId>`. */
export interface GroupEvent {
  groupId: string;
  groupOnlineCount: number;
  time: number;
  action: GroupAction;
  id: string;
  data: UserData;
  seq: number;
  reason?: OfflineReason;
}

export type PresenceEvent =
  | { kind: 'user'; event: UserEvent }
  | { kind: 'group'; event: GroupEvent };

export interface ConnectionUp {
  userId: string;
  connectionId: string;
  /** Data the connection declared (will or birth); undefined keeps what the user had. */
  data?: UserData;
  /** Announcement epoch (attach mode); lets a stale offline be told from a current one. */
  epoch?: string;
}

export interface ConnectionDown {
  userId: string;
  connectionId: string;
  reason: OfflineReason;
  /** When given, the down only applies if it matches the connection's current epoch. */
  epoch?: string;
}

/**
 * What an outside source of truth says about one user right now (attach mode: the broker's retained
 * births and memberships). `published` is the user's last published event as the outside world saw it,
 * used only when this process has no record of the user (a fresh start), so that a restart announces
 * only what really changed.
 */
export interface UserSnapshot {
  userId: string;
  connections: Record<string, { epoch?: string; data?: UserData }>;
  groups: string[];
  published?: { online: boolean; seq: number; data: UserData };
}

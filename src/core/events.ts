/** The presence model's vocabulary: what goes in (signals) and what comes out (events). */

import type { GroupEvent, OfflineReason, UserData, UserEvent } from '../protocol/payloads.js';

/** The events' wire shapes are the protocol's (src/protocol/payloads.ts). */
export type { GroupAction, GroupEvent, OfflineReason, UserAction, UserData, UserEvent } from '../protocol/payloads.js';

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
  /** Cluster node holding the connection; the tracker stamps its own when not given. */
  node?: string;
}

export interface ConnectionDown {
  userId: string;
  connectionId: string;
  reason: OfflineReason;
  /** When given, the down only applies if it matches the connection's current epoch. */
  epoch?: string;
  /**
   * Cluster node the connection ended on; the down only applies while the connection is still held
   * by that node (a late disconnect on the old node after a cross-node takeover ends nothing).
   */
  node?: string;
}

/** A connection declares new `data` for its user (the announcement `{"action":"update",...}`). */
export interface DataUpdate {
  userId: string;
  connectionId: string;
  data: UserData;
  /** When given, the update only applies if it matches the connection's current epoch. */
  epoch?: string;
}

/** Why an update changed nothing; refusals are data, `detail` is for logs and the client. */
export type UpdateRefusalCode = 'not_connected' | 'stale_epoch' | 'trusted_data' | 'rate_limited' | 'invalid_data';

/** What became of an update: `updated` (events emitted), `unchanged` (same data, nothing emitted) or refused. */
export type UpdateResult =
  | { ok: true; status: 'updated' | 'unchanged' }
  | { ok: false; code: UpdateRefusalCode; detail: string };

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

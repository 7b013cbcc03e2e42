import type { Member } from '../protocol/payloads.js';
import type { OfflineReason, UserData } from './events.js';

/** One MQTT connection (client id) of a user. */
export interface ConnectionRecord {
  since: number;
  epoch?: string;
  data?: UserData;
  /** Cluster node holding the connection (cluster mode only). */
  node?: string;
}

/**
 * Everything the model knows about one user. Group state is derived from these records, so a store
 * only ever needs to apply one user's record at a time (a Redis store does it in one MULTI/Lua call).
 */
export interface UserRecord {
  id: string;
  /** As last published: stays true while an offline is held back by the grace window. */
  online: boolean;
  /** Last seq issued for this user. */
  seq: number;
  data: UserData;
  connections: Record<string, ConnectionRecord>;
  groups: string[];
  /**
   * Set while the last connection is gone but the grace window has not yet run out. In a cluster also
   * `node`, the node whose timer holds it, and `until`, when the window ends (ms since the epoch), so
   * that the node declaring that node down can finish it (`rules.adoptHeldOffline`).
   */
  pendingOffline?: { token: number; reason: OfflineReason; node?: string; until?: number };
  /** When the user last went offline (the offline event's `time`, ms since the epoch); plain JSON. */
  lastSeen?: number;
}

export interface GroupPage {
  groupId: string;
  total: number;
  onlineCount: number;
  /** As a query answers them (the wire shape). */
  members: Member[];
}

export interface StoreStats {
  users: number;
  onlineUsers: number;
  connections: number;
  groups: number;
  memberships: number;
}

/**
 * Where presence state lives. Async throughout so a networked store can replace the in-memory one;
 * the tracker calls it from a single serial queue, so implementations need no locking of their own
 * for a single node.
 */
export interface PresenceStore {
  getUser(userId: string): Promise<UserRecord | undefined>;
  getUsers(userIds: readonly string[]): Promise<(UserRecord | undefined)[]>;
  /**
   * Stores `record` (or forgets the user when it holds nothing worth keeping) and brings each group in
   * `touchedGroups` in line with it: member iff listed in `record.groups`, online iff also `record.online`.
   * Resolves to each touched group's online count afterwards.
   * `loaded` is the record (as returned by `getUser`) the change was computed from; a store shared by
   * several processes rejects with `StoreConflict` when the user changed since, and the tracker then
   * loads and applies the rule again (compare-and-set).
   */
  commit(record: UserRecord, touchedGroups: readonly string[], loaded?: UserRecord): Promise<Map<string, number>>;
  /**
   * Optional, for a store shared by several processes: the record this process last read or committed
   * for the user, if it still holds it (no I/O), so a change can start without a read. It may be stale:
   * `commit` then rejects with `StoreConflict` (and the tracker reads), and a rule that finds nothing to
   * do on it is applied again to a fresh read (the tracker does both).
   */
  lastKnown?(userId: string): UserRecord | undefined;
  groupPage(groupId: string, limit: number, offset: number): Promise<GroupPage>;
  groupOnlineCounts(groupIds: readonly string[]): Promise<Map<string, number>>;
  stats(): Promise<StoreStats>;
}

/**
 * A record is worth keeping while it is online, connected, pending, a member of something, or
 * remembers when its user was last seen (`lastSeen`, answered by queries for offline users). A store
 * may keep the lastSeen-only ones more compactly and bound them (MemoryStore does; see `isLastSeenOnly`).
 */
export function isIdle(record: UserRecord): boolean {
  return isInactive(record) && record.lastSeen === undefined;
}

/** Nothing left of the user but when it was last seen. */
export function isLastSeenOnly(record: UserRecord): boolean {
  return isInactive(record) && record.lastSeen !== undefined;
}

function isInactive(record: UserRecord): boolean {
  return (
    !record.online &&
    record.groups.length === 0 &&
    record.pendingOffline === undefined &&
    Object.keys(record.connections).length === 0
  );
}

/** Another process changed the user between load and commit: load again and retry (see `commit`). */
export class StoreConflict extends Error {
  constructor(readonly userId: string) {
    super(`concurrent change of user ${userId}`);
  }
}

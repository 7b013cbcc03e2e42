import type {
  ConnectionDown,
  ConnectionUp,
  DataUpdate,
  GroupAction,
  OfflineReason,
  UserAction,
  UserData,
  UserSnapshot,
  UpdateRefusalCode,
} from './events.js';
import type { ConnectionRecord, UserRecord } from './store.js';

/**
 * The presence rules as pure functions: a user's record in, the next record and the actions to
 * announce out. No clocks, timers or stores here; the tracker supplies `now` and seq.
 */

export interface Announcement {
  user?: { action: UserAction; reason?: OfflineReason };
  /** Group events in publish order; counts are filled in from the store after the commit. */
  groups: { groupId: string; action: GroupAction; reason?: OfflineReason }[];
}

export interface Transition {
  record: UserRecord;
  announce: Announcement | undefined;
  /** Groups whose derived state (membership or online) may have changed. */
  touched: string[];
  /** Start a grace timer for this token (the last connection went away with a grace window). */
  holdOffline?: number;
}

export function emptyRecord(userId: string): UserRecord {
  return { id: userId, online: false, seq: 0, data: {}, connections: {}, groups: [] };
}

const unchanged = (record: UserRecord): Transition => ({ record, announce: undefined, touched: [] });

function wentOnline(record: UserRecord): Transition {
  const next = { ...record, online: true };
  return {
    record: next,
    announce: {
      user: { action: 'online' },
      groups: next.groups.map((groupId) => ({ groupId, action: 'online' as const })),
    },
    touched: next.groups,
  };
}

function wentOffline(record: UserRecord, reason: OfflineReason): Transition {
  const next: UserRecord = { ...record, online: false };
  delete next.pendingOffline;
  return {
    record: next,
    announce: {
      user: { action: 'offline', reason },
      groups: next.groups.map((groupId) => ({ groupId, action: 'offline' as const, reason })),
    },
    touched: next.groups,
  };
}

/** The user's data changed while it is (published) online: `update` to the user and each group. */
function updated(record: UserRecord): Transition {
  return {
    record,
    announce: {
      user: { action: 'update' },
      groups: record.groups.map((groupId) => ({ groupId, action: 'update' as const })),
    },
    // Counts are unchanged; the touched groups only let the tracker read them for the events.
    touched: record.groups,
  };
}

/** Deep equality of two JSON objects by value: key order and prototypes do not matter. */
export function sameData(a: UserData, b: UserData): boolean {
  return jsonEqual(a, b);
}

function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  const ob = b as Record<string, unknown>;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(ob, k) && jsonEqual((a as Record<string, unknown>)[k], ob[k]));
}

export function connectionUp(
  current: UserRecord | undefined,
  up: ConnectionUp,
  now: number,
  trustedData: UserData | undefined,
): Transition {
  const record = current ?? emptyRecord(up.userId);
  const connection: ConnectionRecord = { since: now, epoch: up.epoch, data: up.data };
  if (up.node !== undefined) connection.node = up.node;
  const connections = { ...record.connections, [up.connectionId]: connection };
  const data = trustedData ?? up.data ?? record.data;
  const next: UserRecord = { ...record, connections, data };
  // A birth with new data for a user already online is an update (data belongs to the user).
  const changed = record.online && !sameData(record.data, data);
  if (next.pendingOffline) {
    // Back within the grace window: the offline that was held back is dropped, nothing is announced.
    delete next.pendingOffline;
    return changed ? updated(next) : { record: next, announce: undefined, touched: [] };
  }
  if (next.online) return changed ? updated(next) : { record: next, announce: undefined, touched: [] };
  return wentOnline(next);
}

/** An update that changes nothing, with why, when it is refused. */
export interface UpdateTransition extends Transition {
  refused?: { code: UpdateRefusalCode; detail: string };
}

/**
 * A connection declares new data for its user. Refused when the connection is not known (not
 * connected), when its epoch is not the connection's current one (a stale update, the rule offlines
 * follow), or when the server's user list provides the data. Data equal to what the user has (deep
 * JSON equality) announces nothing; otherwise `update` goes to the user and each of its groups.
 */
export function update(current: UserRecord | undefined, change: DataUpdate, trustedData: UserData | undefined): UpdateTransition {
  const record = current ?? emptyRecord(change.userId);
  const refuse = (code: UpdateRefusalCode, detail: string): UpdateTransition => ({ ...unchanged(record), refused: { code, detail } });
  const connection = record.connections[change.connectionId];
  if (!connection) return refuse('not_connected', `connection '${change.connectionId}' of '${change.userId}' is not connected`);
  if (change.epoch !== undefined && connection.epoch !== undefined && change.epoch !== connection.epoch) {
    return refuse('stale_epoch', `epoch '${change.epoch}' is not the connection's current epoch`);
  }
  if (trustedData !== undefined) return refuse('trusted_data', "the server's user list provides this user's data");
  const connections = { ...record.connections, [change.connectionId]: { ...connection, data: change.data } };
  const next: UserRecord = { ...record, connections, data: change.data };
  if (!record.online || sameData(record.data, change.data)) {
    // Nothing to announce; the connection's declared data is still kept (a resync rebuilds from it).
    return { record: sameData(record.data, change.data) ? { ...next, data: record.data } : next, announce: undefined, touched: [] };
  }
  return updated(next);
}

export function connectionDown(
  current: UserRecord | undefined,
  down: ConnectionDown,
  graceToken: number | undefined,
): Transition {
  if (!current) return unchanged(emptyRecord(down.userId));
  const connection = current.connections[down.connectionId];
  if (!connection) return unchanged(current);
  // A stale offline (an old will arriving after a reconnect) names an epoch the connection no longer has.
  if (down.epoch !== undefined && connection.epoch !== undefined && down.epoch !== connection.epoch) {
    return unchanged(current);
  }
  // Cluster: the connection moved to another node meanwhile (a cross-node takeover); that node owns it.
  if (down.node !== undefined && connection.node !== undefined && down.node !== connection.node) return unchanged(current);
  const connections = { ...current.connections };
  delete connections[down.connectionId];
  const next: UserRecord = { ...current, connections };
  if (Object.keys(connections).length > 0 || !next.online) return { record: next, announce: undefined, touched: [] };
  if (graceToken !== undefined) {
    next.pendingOffline = { token: graceToken, reason: down.reason };
    return { record: next, announce: undefined, touched: [], holdOffline: graceToken };
  }
  return wentOffline(next, down.reason);
}

/** The grace window ran out: announce the held-back offline unless the user came back meanwhile. */
export function graceExpired(current: UserRecord | undefined, token: number): Transition | undefined {
  if (!current?.pendingOffline || current.pendingOffline.token !== token) return undefined;
  return wentOffline(current, current.pendingOffline.reason);
}

/**
 * Cluster: node `from` held this offline back and is gone (declared down, or restarted without its
 * timers). Node `to` takes it over: announced now, with the reason its connection ended, if its window
 * has run out, else held by `to` for the rest of the window. Nothing when `from` no longer holds it (the
 * user came back, or the offline was announced or taken over meanwhile).
 */
export function adoptHeldOffline(current: UserRecord | undefined, from: string, to: string, now: number): Transition | undefined {
  const pending = current?.pendingOffline;
  if (!current || !pending || pending.node !== from) return undefined;
  if (pending.until === undefined || pending.until <= now) return wentOffline(current, pending.reason);
  return { record: { ...current, pendingOffline: { ...pending, node: to } }, announce: undefined, touched: [], holdOffline: pending.token };
}

export function join(current: UserRecord | undefined, userId: string, groupId: string): Transition {
  const record = current ?? emptyRecord(userId);
  if (record.groups.includes(groupId)) return unchanged(record);
  const next = { ...record, groups: [...record.groups, groupId] };
  return { record: next, announce: { groups: [{ groupId, action: 'join' }] }, touched: [groupId] };
}

export function leave(current: UserRecord | undefined, userId: string, groupId: string): Transition {
  const record = current ?? emptyRecord(userId);
  if (!record.groups.includes(groupId)) return unchanged(record);
  const next = { ...record, groups: record.groups.filter((g) => g !== groupId) };
  return { record: next, announce: { groups: [{ groupId, action: 'leave' }] }, touched: [groupId] };
}

/**
 * Brings a user's record in line with a snapshot of the truth and announces only the differences:
 * leaves, then joins, then online/offline if that changed. A user this process has no record of is
 * first seeded from what was last published (`snapshot.published`) with the snapshot's memberships,
 * so a restart repeats nothing that subscribers already know. An offline owed here is announced at
 * once (no grace): the connections ended while nobody was watching.
 */
export function resync(
  current: UserRecord | undefined,
  snapshot: UserSnapshot,
  now: number,
  trustedData: UserData | undefined,
  reason: OfflineReason,
): Transition {
  const published = snapshot.published;
  const base: UserRecord = current ?? {
    ...emptyRecord(snapshot.userId),
    online: published?.online ?? false,
    seq: published?.seq ?? 0,
    data: published?.data ?? {},
    groups: [...new Set(snapshot.groups)],
  };
  const wanted = new Set(snapshot.groups);
  const left = base.groups.filter((g) => !wanted.has(g));
  const joined = [...wanted].filter((g) => !base.groups.includes(g));
  const groups = [...base.groups.filter((g) => wanted.has(g)), ...joined];

  const connections: UserRecord['connections'] = {};
  let declared: UserData | undefined;
  for (const [id, conn] of Object.entries(snapshot.connections)) {
    const known = base.connections[id];
    const since = known && known.epoch === conn.epoch ? known.since : now;
    connections[id] = { since, epoch: conn.epoch, data: conn.data };
    declared = conn.data ?? declared;
  }
  const online = Object.keys(connections).length > 0;
  const next: UserRecord = { ...base, connections, groups, data: trustedData ?? declared ?? base.data, online };
  delete next.pendingOffline;
  // A held-back offline whose user is back is dropped; one whose user is still gone is announced now.
  const wasOnline = base.online;

  const announcedGroups: Announcement['groups'] = [
    ...left.map((groupId) => ({ groupId, action: 'leave' as const })),
    ...joined.map((groupId) => ({ groupId, action: 'join' as const })),
  ];
  let user: Announcement['user'];
  if (online !== wasOnline) {
    user = online ? { action: 'online' } : { action: 'offline', reason };
    for (const groupId of groups) {
      announcedGroups.push(online ? { groupId, action: 'online' } : { groupId, action: 'offline', reason });
    }
  } else if (online && !sameData(base.data, next.data)) {
    // Data updated while nobody watched (attach: a retained update replaced a birth): an update.
    user = { action: 'update' };
    for (const groupId of groups) announcedGroups.push({ groupId, action: 'update' });
  }
  const touched = [...new Set([...left, ...joined, ...(user ? groups : []), ...(current ? [] : groups)])];
  const announce = user || announcedGroups.length > 0 ? { user, groups: announcedGroups } : undefined;
  return { record: next, announce, touched };
}

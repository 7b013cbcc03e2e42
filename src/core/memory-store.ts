import { emptyRecord } from './transitions.js';
import { isIdle, isLastSeenOnly, type GroupPage, type PresenceStore, type StoreStats, type UserRecord } from './store.js';

interface GroupState {
  members: Set<string>;
  online: Set<string>;
}

/**
 * Offline users with nothing but a `lastSeen` kept at most (the oldest forgotten first). Measured at
 * about 110 bytes of heap each with 13-character ids (test/slow/last-seen-memory.test.ts), so the
 * default bound holds at most ~110 MB; beyond it, the users gone longest lose their lastSeen.
 */
export const DEFAULT_MAX_LAST_SEEN = 1_000_000;

export interface MemoryStoreOptions {
  /** Bound on lastSeen-only users kept (see DEFAULT_MAX_LAST_SEEN); 0 keeps none. */
  maxLastSeen?: number;
}

/**
 * The single-process store: plain maps, no copies on read (callers treat records as immutable).
 * A user who went offline and holds nothing else is kept only as its `lastSeen` time, in a bounded
 * map, and read back as a minimal offline record (no data, seq 0).
 */
export class MemoryStore implements PresenceStore {
  private readonly users = new Map<string, UserRecord>();
  private readonly groups = new Map<string, GroupState>();
  private readonly lastSeen = new Map<string, number>();
  private readonly maxLastSeen: number;

  constructor(options: MemoryStoreOptions = {}) {
    this.maxLastSeen = options.maxLastSeen ?? DEFAULT_MAX_LAST_SEEN;
  }

  async getUser(userId: string): Promise<UserRecord | undefined> {
    return this.read(userId);
  }

  async getUsers(userIds: readonly string[]): Promise<(UserRecord | undefined)[]> {
    return userIds.map((id) => this.read(id));
  }

  /** How many users are kept only as their lastSeen time. */
  get lastSeenOnly(): number {
    return this.lastSeen.size;
  }

  private read(userId: string): UserRecord | undefined {
    const record = this.users.get(userId);
    if (record) return record;
    const seen = this.lastSeen.get(userId);
    return seen === undefined ? undefined : { ...emptyRecord(userId), lastSeen: seen };
  }

  async commit(record: UserRecord, touchedGroups: readonly string[]): Promise<Map<string, number>> {
    this.lastSeen.delete(record.id);
    if (isIdle(record)) this.users.delete(record.id);
    else if (isLastSeenOnly(record)) {
      this.users.delete(record.id);
      if (this.maxLastSeen > 0) {
        this.lastSeen.set(record.id, record.lastSeen!);
        if (this.lastSeen.size > this.maxLastSeen) this.lastSeen.delete(this.lastSeen.keys().next().value!);
      }
    } else this.users.set(record.id, record);
    const counts = new Map<string, number>();
    for (const groupId of touchedGroups) {
      const member = record.groups.includes(groupId);
      let group = this.groups.get(groupId);
      if (!group) {
        if (!member) {
          counts.set(groupId, 0);
          continue;
        }
        group = { members: new Set(), online: new Set() };
        this.groups.set(groupId, group);
      }
      if (member) group.members.add(record.id);
      else group.members.delete(record.id);
      if (member && record.online) group.online.add(record.id);
      else group.online.delete(record.id);
      counts.set(groupId, group.online.size);
      if (group.members.size === 0) this.groups.delete(groupId);
    }
    return counts;
  }

  async groupPage(groupId: string, limit: number, offset: number): Promise<GroupPage> {
    const group = this.groups.get(groupId);
    if (!group) return { groupId, total: 0, onlineCount: 0, members: [] };
    const members: GroupPage['members'] = [];
    const end = offset + limit;
    let index = 0;
    // Online members first, then the rest, both in insertion order: stable pages while nothing changes.
    for (const pass of [true, false]) {
      for (const id of group.members) {
        if (group.online.has(id) !== pass) continue;
        if (index >= offset && index < end) {
          const user = this.users.get(id);
          const member: GroupPage['members'][number] = { id, online: pass, data: user?.data ?? {}, seq: user?.seq ?? 0 };
          if (!pass && user?.lastSeen !== undefined) member.lastSeen = user.lastSeen;
          members.push(member);
        }
        index++;
        if (index >= end) break;
      }
      if (index >= end) break;
    }
    return { groupId, total: group.members.size, onlineCount: group.online.size, members };
  }

  async groupOnlineCounts(groupIds: readonly string[]): Promise<Map<string, number>> {
    return new Map(groupIds.map((id) => [id, this.groups.get(id)?.online.size ?? 0]));
  }

  async stats(): Promise<StoreStats> {
    let onlineUsers = 0;
    let connections = 0;
    let memberships = 0;
    for (const record of this.users.values()) {
      if (record.online) onlineUsers++;
      connections += Object.keys(record.connections).length;
      memberships += record.groups.length;
    }
    return { users: this.users.size, onlineUsers, connections, groups: this.groups.size, memberships };
  }
}

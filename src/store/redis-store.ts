import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { isIdle, StoreConflict, type GroupPage, type PresenceStore, type StoreStats, type UserRecord } from '../core/store.js';
import { ClusterKeys } from './redis-keys.js';

/**
 * Applies one user's change atomically: compare-and-set on the user's version, then the group sets,
 * the per-node connection index and the cluster-wide counters, all derived from the old and new record
 * by the caller. Returns -1 on a version conflict, else each touched group's online count.
 *
 * ARGV: prefix, userId, expectedVersion, recordJson, dUsers, dOnline, dConnections, dMemberships,
 *       nGroups, (groupId, member 0|1, online 0|1)*, nDel, (node, clientId)*, nAdd, (node, clientId)*,
 *       heldBefore, heldAfter (node holding the user's held-back offline, '' for none)
 */
const COMMIT_SCRIPT = `
local p = ARGV[1]
local uid = ARGV[2]
local ukey = p .. 'u:' .. uid
local v = redis.call('HGET', ukey, 'v') or '0'
if v ~= ARGV[3] then return -1 end
redis.call('HSET', ukey, 'v', tostring(tonumber(v) + 1), 'r', ARGV[4])
local stats = p .. 'stats'
redis.call('HINCRBY', stats, 'users', ARGV[5])
redis.call('HINCRBY', stats, 'onlineUsers', ARGV[6])
redis.call('HINCRBY', stats, 'connections', ARGV[7])
redis.call('HINCRBY', stats, 'memberships', ARGV[8])
local i = 9
local n = tonumber(ARGV[i]); i = i + 1
local counts = {}
for g = 1, n do
  local gid, member, online = ARGV[i], ARGV[i + 1] == '1', ARGV[i + 2] == '1'
  i = i + 3
  local mkey, okey = p .. 'g:' .. gid .. ':m', p .. 'g:' .. gid .. ':o'
  if member then
    if redis.call('SADD', mkey, uid) == 1 and redis.call('SCARD', mkey) == 1 then redis.call('HINCRBY', stats, 'groups', 1) end
  else
    if redis.call('SREM', mkey, uid) == 1 and redis.call('SCARD', mkey) == 0 then redis.call('HINCRBY', stats, 'groups', -1) end
  end
  if member and online then redis.call('SADD', okey, uid) else redis.call('SREM', okey, uid) end
  counts[g] = redis.call('SCARD', okey)
end
n = tonumber(ARGV[i]); i = i + 1
for c = 1, n do
  local ckey = p .. 'n:' .. ARGV[i] .. ':c'
  if redis.call('HGET', ckey, ARGV[i + 1]) == uid then redis.call('HDEL', ckey, ARGV[i + 1]) end
  i = i + 2
end
n = tonumber(ARGV[i]); i = i + 1
for c = 1, n do
  redis.call('HSET', p .. 'n:' .. ARGV[i] .. ':c', ARGV[i + 1], uid)
  redis.call('SADD', p .. 'nodes', ARGV[i])
  i = i + 2
end
local heldBefore, heldAfter = ARGV[i], ARGV[i + 1]
if heldBefore ~= heldAfter then
  if heldBefore ~= '' then redis.call('SREM', p .. 'n:' .. heldBefore .. ':h', uid) end
  if heldAfter ~= '' then
    redis.call('SADD', p .. 'n:' .. heldAfter .. ':h', uid)
    redis.call('SADD', p .. 'nodes', heldAfter)
  end
end
return counts
`;

/** Users whose last read or committed record a node keeps to start their next change from (see `lastKnown`). */
const KNOWN_RECORDS = 10_000;

/**
 * `PresenceStore` over Redis, shared by every node of a cluster (docs/cluster.md, "What lives where").
 *
 * Each user's record is one opaque JSON value with a version (`<cluster>:u:<id>`, fields `r` and `v`),
 * so whatever the core adds to `UserRecord` is stored as is. Group member and online sets, the
 * per-node connection index and the counters are derived from the records in the same Lua call that
 * stores one, so they are exact after every change. Rules stay in core/transitions.ts: Redis only
 * stores and counts. Records are kept once idle (unlike the memory store), since `seq` must keep rising
 * and `lastSeen` must survive.
 */
export class RedisStore implements PresenceStore {
  private readonly versions = new WeakMap<UserRecord, string>();
  /**
   * The record (with its version, in `versions`) this process last read or committed, per user, least
   * recently used dropped first. Saves the read (HMGET, a round trip) that starts a change; never trusted
   * beyond that: the commit's compare-and-set refuses a stale one (docs/cluster.md, "Capacity").
   */
  private readonly known = new LRUCache<string, UserRecord>({ max: KNOWN_RECORDS });
  /** The socket `known` was filled over (see `knownRecords`). */
  private knownOver: unknown;
  readonly keys: ClusterKeys;

  constructor(
    private readonly redis: Redis,
    cluster: string,
  ) {
    this.keys = new ClusterKeys(cluster);
    redis.defineCommand('presenceCommit', { numberOfKeys: 0, lua: COMMIT_SCRIPT });
  }

  async getUser(userId: string): Promise<UserRecord | undefined> {
    const [json, version] = await this.redis.hmget(this.keys.user(userId), 'r', 'v');
    const record = this.decode(json, version);
    if (record) this.knownRecords().set(userId, record);
    else this.knownRecords().delete(userId);
    return record;
  }

  lastKnown(userId: string): UserRecord | undefined {
    return this.knownRecords().get(userId);
  }

  /**
   * `known`, emptied whenever the connection to Redis is a new one: a Redis that came back may have lost
   * writes (restarted without its files), versions may then repeat, and a compare-and-set would accept
   * a record it never had.
   */
  private knownRecords(): LRUCache<string, UserRecord> {
    if (this.redis.stream !== this.knownOver) {
      this.known.clear();
      this.knownOver = this.redis.stream;
    }
    return this.known;
  }

  async getUsers(userIds: readonly string[]): Promise<(UserRecord | undefined)[]> {
    if (userIds.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of userIds) pipeline.hmget(this.keys.user(id), 'r', 'v');
    const results = (await pipeline.exec()) ?? [];
    return results.map(([error, value]) => {
      if (error) throw error;
      const [json, version] = value as (string | null)[];
      return this.decode(json ?? null, version ?? null);
    });
  }

  async commit(record: UserRecord, touchedGroups: readonly string[], loaded?: UserRecord): Promise<Map<string, number>> {
    const expected = loaded ? this.versions.get(loaded) ?? '0' : '0';
    const before = loaded ?? { id: record.id, online: false, seq: 0, data: {}, connections: {}, groups: [] };
    const args: (string | number)[] = [this.keys.prefix, record.id, expected, JSON.stringify(record)];
    args.push(
      Number(!isIdle(record)) - Number(loaded !== undefined && !isIdle(before)),
      Number(record.online) - Number(before.online),
      Object.keys(record.connections).length - Object.keys(before.connections).length,
      record.groups.length - before.groups.length,
    );
    args.push(touchedGroups.length);
    for (const groupId of touchedGroups) {
      const member = record.groups.includes(groupId);
      args.push(groupId, member ? 1 : 0, member && record.online ? 1 : 0);
    }
    const removed: string[] = [];
    for (const [clientId, conn] of Object.entries(before.connections)) {
      const now = record.connections[clientId];
      if (conn.node !== undefined && now?.node !== conn.node) removed.push(conn.node, clientId);
    }
    const added: string[] = [];
    for (const [clientId, conn] of Object.entries(record.connections)) {
      if (conn.node !== undefined && before.connections[clientId]?.node !== conn.node) added.push(conn.node, clientId);
    }
    args.push(removed.length / 2, ...removed, added.length / 2, ...added);
    args.push(before.pendingOffline?.node ?? '', record.pendingOffline?.node ?? '');
    const result = (await (this.redis as unknown as Scripted).presenceCommit(...args)) as number | number[];
    if (result === -1) {
      this.knownRecords().delete(record.id);
      throw new StoreConflict(record.id);
    }
    this.versions.set(record, String(Number(expected) + 1));
    this.knownRecords().set(record.id, record);
    const counts = result as number[];
    return new Map(touchedGroups.map((groupId, i) => [groupId, Number(counts[i] ?? 0)]));
  }

  async groupPage(groupId: string, limit: number, offset: number): Promise<GroupPage> {
    const [[, members], [, online]] = ((await this.redis
      .multi()
      .smembers(this.keys.groupMembers(groupId))
      .smembers(this.keys.groupOnline(groupId))
      .exec()) ?? []) as [unknown, string[]][];
    const onlineSet = new Set(online);
    // Online first, then the rest, each sorted by id: stable pages while nothing changes.
    const ordered = [...[...onlineSet].sort(), ...(members ?? []).filter((id) => !onlineSet.has(id)).sort()];
    const page = ordered.slice(offset, offset + limit);
    const records = await this.getUsers(page);
    return {
      groupId,
      total: members?.length ?? 0,
      onlineCount: onlineSet.size,
      members: page.map((id, i) => ({ id, online: onlineSet.has(id), data: records[i]?.data ?? {}, seq: records[i]?.seq ?? 0 })),
    };
  }

  async groupOnlineCounts(groupIds: readonly string[]): Promise<Map<string, number>> {
    if (groupIds.length === 0) return new Map();
    const pipeline = this.redis.pipeline();
    for (const id of groupIds) pipeline.scard(this.keys.groupOnline(id));
    const results = (await pipeline.exec()) ?? [];
    return new Map(groupIds.map((id, i) => [id, Number(results[i]?.[1] ?? 0)]));
  }

  /** Connections the index holds for one node: client id -> user id. */
  async nodeConnections(node: string): Promise<Map<string, string>> {
    return new Map(Object.entries(await this.redis.hgetall(this.keys.nodeConnections(node))));
  }

  /** Users whose held-back offline (grace window) `node` holds. */
  nodeHeldOfflines(node: string): Promise<string[]> {
    return this.redis.smembers(this.keys.nodeHeld(node));
  }

  /** Nodes that have held connections and may still hold some. */
  knownNodes(): Promise<string[]> {
    return this.redis.smembers(this.keys.nodes());
  }

  /**
   * Every stored user's memberships (records kept once idle included), in batches, for a node's
   * mirror (membership-feed.ts): SCAN over `u:*` (COUNT 1000) and one pipelined HGET of `r` per batch,
   * so O(users) work on Redis in about users/1000 x 2 round trips. Not a point-in-time snapshot: each
   * record is as read, with its own `seq`. Resolves to the number of records read.
   */
  async scanMemberships(onBatch: (batch: { userId: string; seq: number; groups: string[] }[]) => void): Promise<number> {
    const match = `${this.keys.prefix.replace(/[*?[\]\\]/g, '\\$&')}u:*`;
    let cursor = '0';
    let total = 0;
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', match, 'COUNT', 1000);
      cursor = next;
      if (keys.length === 0) continue;
      const pipeline = this.redis.pipeline();
      for (const key of keys) pipeline.hget(key, 'r');
      const batch = ((await pipeline.exec()) ?? []).flatMap(([error, json]) => {
        if (error || typeof json !== 'string') return [];
        const record = JSON.parse(json) as UserRecord;
        return [{ userId: record.id, seq: record.seq, groups: record.groups }];
      });
      total += batch.length;
      onBatch(batch);
    } while (cursor !== '0');
    return total;
  }

  async stats(): Promise<StoreStats> {
    const raw = await this.redis.hgetall(this.keys.stats());
    const n = (field: string) => Number(raw[field] ?? 0);
    return { users: n('users'), onlineUsers: n('onlineUsers'), connections: n('connections'), groups: n('groups'), memberships: n('memberships') };
  }

  private decode(json: string | null, version: string | null): UserRecord | undefined {
    if (json === null) return undefined;
    const record = JSON.parse(json) as UserRecord;
    this.versions.set(record, version ?? '0');
    return record;
  }
}

interface Scripted {
  presenceCommit(...args: (string | number)[]): Promise<unknown>;
}

import type { Redis } from 'ioredis';
import type { GroupEvent } from '../core/events.js';
import type { ClusterKeys } from './redis-keys.js';

/**
 * Interval mode across a cluster, the Redis half (docs/cluster.md, "Large groups in a cluster").
 *
 * - Every node hands each group event it made to `forward`: one script decides, atomically, whether the
 *   group is in interval mode (more than announceMax members cluster-wide, or an interval already open)
 *   and if so queues the change on `<cluster>:iv:<g>:q` and marks the group open in `<cluster>:iv:groups`.
 *   A queued change is not published by its node; an unqueued one is published by its node as before.
 * - One node, the holder of the lease `<cluster>:iv:leader` (TTL --node-timeout), closes each open
 *   group's interval every interval: `take` empties the queue and compares each queued user's state now
 *   (the group sets) with the state last reported (`<cluster>:iv:<g>:s`, else the state before its first
 *   queued change), so a flap is in no list and a change seen twice is reported once. The count is the
 *   online set's size at that moment. The result is kept in `<cluster>:iv:<g>:out` until the leader
 *   acknowledges it was handed to the broker, so a leader that dies in between leaves it to the next.
 * - When the group has at most announceMax members at a close, the interval closes for good: the group
 *   is back to per-member events from the next change on.
 */

const FORWARD_SCRIPT = `
local p, max, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
for k = 1, n do
  local g, entry = ARGV[2 + 2 * k], ARGV[3 + 2 * k]
  local open = redis.call('SISMEMBER', p .. 'iv:groups', g) == 1
  if open or redis.call('SCARD', p .. 'g:' .. g .. ':m') > max then
    if not open then redis.call('SADD', p .. 'iv:groups', g) end
    redis.call('RPUSH', p .. 'iv:' .. g .. ':q', entry)
    out[k] = 1
  else
    out[k] = 0
  end
end
return out
`;

/** ARGV: prefix, groupId, announceMax, maxIds. Returns the interval as JSON, or nil when nothing to say. */
const TAKE_SCRIPT = `
local p, g, max, maxIds = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local base = p .. 'iv:' .. g
local kept = redis.call('GET', base .. ':out')
if kept then return kept end
local entries = redis.call('LRANGE', base .. ':q', 0, -1)
redis.call('DEL', base .. ':q')
local mkey, okey, skey = p .. 'g:' .. g .. ':m', p .. 'g:' .. g .. ':o', base .. ':s'
local large = redis.call('SCARD', mkey) > max
local count = redis.call('SCARD', okey)
-- seqs travel as strings: they are microseconds, beyond the 14 digits cjson writes
local first, seqs, last, order = {}, {}, {}, {}
for _, e in ipairs(entries) do
  local x = cjson.decode(e)
  local id, action, seq = x[1], x[2], tonumber(x[3])
  if seqs[id] == nil then
    order[#order + 1] = id
    first[id] = { seq, action }
    seqs[id], last[id] = seq, x[3]
  else
    if seq < first[id][1] then first[id] = { seq, action } end
    if seq > seqs[id] then seqs[id], last[id] = seq, x[3] end
  end
end
local result = { count, 0, 0 }
local listed = 0
for _, id in ipairs(order) do
  local m1 = redis.call('SISMEMBER', mkey, id)
  local o1 = redis.call('SISMEMBER', okey, id)
  local m0, o0
  local was = redis.call('HGET', skey, id)
  if was then
    m0, o0 = tonumber(string.sub(was, 1, 1)), tonumber(string.sub(was, 2, 2))
  else
    local a = first[id][2]
    if a == 'join' then m0, o0 = 0, 0
    elseif a == 'online' then m0, o0 = 1, 0
    elseif a == 'offline' then m0, o0 = 1, 1
    elseif a == 'leave' then m0, o0 = 1, o1
    else m0, o0 = m1, o1 end
  end
  if large then redis.call('HSET', skey, id, m1 .. o1) end
  local kind
  if m0 == 0 and m1 == 1 then kind = 'joined'
  elseif m0 == 1 and m1 == 0 then kind = 'left'
  elseif m1 == 1 and o0 ~= o1 then kind = (o1 == 1) and 'online' or 'offline' end
  if kind then
    listed = listed + 1
    if listed <= maxIds then
      result[#result + 1] = kind
      result[#result + 1] = id
      result[#result + 1] = last[id]
    else
      result[2] = 1
    end
  end
end
result[3] = listed
local before = redis.call('GET', base .. ':c')
-- Closing for good (at or under the limit): the group leaves iv:groups now, or, when there is an event
-- to publish, at its acknowledgement, so that an unacknowledged one is still found by the next leader.
if large then redis.call('SET', base .. ':c', count) else redis.call('DEL', skey, base .. ':c') end
if listed == 0 and (before == false or tonumber(before) == count) then
  if not large then redis.call('SREM', p .. 'iv:groups', g) end
  return nil
end
local json = cjson.encode(result)
redis.call('SET', base .. ':out', json)
return json
`;

/** ARGV: prefix, groupId. Forgets the published interval; a closed group with nothing queued is no longer open. */
const ACK_SCRIPT = `
local base = ARGV[1] .. 'iv:' .. ARGV[2]
redis.call('DEL', base .. ':out')
if redis.call('EXISTS', base .. ':c') == 0 and redis.call('LLEN', base .. ':q') == 0 then redis.call('SREM', ARGV[1] .. 'iv:groups', ARGV[2]) end
return 0
`;

const LEASE_SCRIPT = `
local cur = redis.call('GET', ARGV[1])
if cur == ARGV[2] then redis.call('PEXPIRE', ARGV[1], ARGV[3]) return 1 end
if not cur then redis.call('SET', ARGV[1], ARGV[2], 'PX', ARGV[3]) return 1 end
return 0
`;

const RELEASE_SCRIPT = `
if redis.call('GET', ARGV[1]) == ARGV[2] then redis.call('DEL', ARGV[1]) end
return 0
`;

/** One closed interval as `take` found it (the event is made from it by src/feed/cluster-intervals.ts). */
export interface TakenInterval {
  groupOnlineCount: number;
  truncated: boolean;
  /** Ids with a net change, all of them (the lists hold at most maxIds). */
  changed: number;
  lists: { joined: string[]; left: string[]; online: string[]; offline: string[] };
  seqs: Record<string, number>;
}

interface Scripted {
  presenceIvForward(...args: (string | number)[]): Promise<number[]>;
  presenceIvTake(...args: (string | number)[]): Promise<string | null>;
  presenceIvLease(...args: (string | number)[]): Promise<number>;
  presenceIvRelease(...args: (string | number)[]): Promise<number>;
  presenceIvAck(...args: (string | number)[]): Promise<number>;
}

export class IntervalRelay {
  private readonly redis: Redis & Scripted;

  constructor(
    redis: Redis,
    private readonly keys: ClusterKeys,
    private readonly nodeId: string,
    private readonly leaseMs: number,
  ) {
    this.redis = redis as Redis & Scripted;
    redis.defineCommand('presenceIvForward', { numberOfKeys: 0, lua: FORWARD_SCRIPT });
    redis.defineCommand('presenceIvTake', { numberOfKeys: 0, lua: TAKE_SCRIPT });
    redis.defineCommand('presenceIvLease', { numberOfKeys: 0, lua: LEASE_SCRIPT });
    redis.defineCommand('presenceIvRelease', { numberOfKeys: 0, lua: RELEASE_SCRIPT });
    redis.defineCommand('presenceIvAck', { numberOfKeys: 0, lua: ACK_SCRIPT });
  }

  /** For each group event, in order: true when it was queued for the interval leader (not to be published here). */
  async forward(events: readonly GroupEvent[], announceMax: number): Promise<boolean[]> {
    const args: (string | number)[] = [this.keys.prefix, announceMax, events.length];
    for (const e of events) args.push(e.groupId, JSON.stringify([e.id, e.action, String(e.seq)]));
    const verdicts = await this.redis.presenceIvForward(...args);
    return events.map((_, i) => Number(verdicts[i]) === 1);
  }

  /** Takes or renews the leader lease; true while this node holds it. */
  async lease(): Promise<boolean> {
    return Number(await this.redis.presenceIvLease(`${this.keys.prefix}iv:leader`, this.nodeId, this.leaseMs)) === 1;
  }

  async release(): Promise<void> {
    await this.redis.presenceIvRelease(`${this.keys.prefix}iv:leader`, this.nodeId);
  }

  /** Groups with an open interval. */
  openGroups(): Promise<string[]> {
    return this.redis.smembers(`${this.keys.prefix}iv:groups`);
  }

  /** Closes a group's interval (or returns the one not yet acknowledged); undefined: nothing to publish. */
  async take(groupId: string, announceMax: number, maxIds: number): Promise<TakenInterval | undefined> {
    const json = await this.redis.presenceIvTake(this.keys.prefix, groupId, announceMax, maxIds);
    if (json === null) return undefined;
    const flat = JSON.parse(json) as (string | number)[];
    const taken: TakenInterval = {
      groupOnlineCount: Number(flat[0]),
      truncated: Number(flat[1]) === 1,
      changed: Number(flat[2]),
      lists: { joined: [], left: [], online: [], offline: [] },
      seqs: {},
    };
    for (let i = 3; i + 2 < flat.length; i += 3) {
      const kind = flat[i] as keyof TakenInterval['lists'];
      const id = String(flat[i + 1]);
      taken.lists[kind].push(id);
      taken.seqs[id] = Number(flat[i + 2]);
    }
    return taken;
  }

  /** The taken interval was handed to the broker: forget it. */
  async acknowledge(groupId: string): Promise<void> {
    await this.redis.presenceIvAck(this.keys.prefix, groupId);
  }
}

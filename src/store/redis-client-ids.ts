import type { Redis } from 'ioredis';
import { once } from '../auth/once.js';
import type { ClaimResult, ClientIdOwnership } from '../auth/client-ids.js';
import type { ClusterKeys } from './redis-keys.js';

/** A record with no holding connection and no persistent session is gone: the id is free again. */
const DROP_IF_FREE = `
local function dropIfFree(key)
  if redis.call('HGET', key, 'persistent') == '1' then return end
  for _, field in ipairs(redis.call('HKEYS', key)) do
    if string.sub(field, 1, 2) == 'h:' then return end
  end
  redis.call('DEL', key)
end
`;

/** KEYS: record, node index. ARGV: userId, persistent 0|1, node, clientId. Returns '' or the other owner. */
const CLAIM = `
local owner = redis.call('HGET', KEYS[1], 'user')
if owner and owner ~= ARGV[1] then return owner end
redis.call('HSET', KEYS[1], 'user', ARGV[1], 'persistent', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'h:' .. ARGV[3], 1)
redis.call('SADD', KEYS[2], ARGV[4])
return ''
`;

/** KEYS: record, node index. ARGV: node, clientId. One connection of `node` stops holding the id. */
const RELEASE = `${DROP_IF_FREE}
if redis.call('HINCRBY', KEYS[1], 'h:' .. ARGV[1], -1) <= 0 then
  redis.call('HDEL', KEYS[1], 'h:' .. ARGV[1])
  redis.call('SREM', KEYS[2], ARGV[2])
end
dropIfFree(KEYS[1])
`;

/** KEYS: record. The persistent session the id names is gone. */
const SESSION_ENDED = `${DROP_IF_FREE}
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'persistent', '0')
  dropIfFree(KEYS[1])
end
`;

/** KEYS: node index. ARGV: record key prefix, node. A dead node's connections hold nothing any more. */
const REAP = `${DROP_IF_FREE}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[1] .. id
  redis.call('HDEL', key, 'h:' .. ARGV[2])
  dropIfFree(key)
end
redis.call('DEL', KEYS[1])
`;

/**
 * KEYS: record, node index. ARGV: userId, persistent 0|1, node, clientId, holds. This node's holds of the
 * id are `holds` (it alone writes its field); '' or, when another user owns the id now, that user.
 */
const RESTORE = `
local owner = redis.call('HGET', KEYS[1], 'user')
if owner and owner ~= ARGV[1] then return owner end
redis.call('HSET', KEYS[1], 'user', ARGV[1], 'h:' .. ARGV[3], ARGV[5])
if ARGV[2] == '1' then redis.call('HSET', KEYS[1], 'persistent', '1')
elseif redis.call('HEXISTS', KEYS[1], 'persistent') == 0 then redis.call('HSET', KEYS[1], 'persistent', '0') end
redis.call('SADD', KEYS[2], ARGV[4])
return ''
`;

interface Scripts {
  clientIdClaim(record: string, index: string, userId: string, persistent: number, node: string, clientId: string): Promise<string>;
  clientIdRelease(record: string, index: string, node: string, clientId: string): Promise<unknown>;
  clientIdSessionEnded(record: string): Promise<unknown>;
  clientIdReap(index: string, prefix: string, node: string): Promise<unknown>;
  clientIdRestore(record: string, index: string, userId: string, persistent: number, node: string, clientId: string, holds: number): Promise<string>;
}

/**
 * Client-id ownership shared by every node of a cluster (src/auth/client-ids.ts has the rules):
 * `<cluster>:cid:<clientId>` is a hash of the owner (`user`), whether a persistent session names the id
 * (`persistent`) and, per node, how many of its connections hold it (`h:<node>`); `<cluster>:n:<node>:ids`
 * lists the ids a node holds, so the survivor that declares the node down (or the node's restart) frees
 * what its connections held (`reapNode`). Each step is one Lua script: the claim checks and records at
 * once. Like every store command it waits for Redis while Redis is away (CONNECTs are refused then).
 * The node also remembers the holds it granted and has not released (`held`), so that after it was
 * declared down while in fact alive (cut off from Redis longer than the node timeout: a survivor then
 * freed its holds) its resync can put them back (`restoreHolds`).
 */
export class RedisClientIdOwnership implements ClientIdOwnership {
  private readonly scripts: Scripts;
  private readonly held = new Map<string, { userId: string; persistent: boolean; holds: number }>();

  constructor(
    private readonly redis: Redis,
    private readonly keys: ClusterKeys,
    private readonly nodeId: string,
    private readonly onError: (error: unknown) => void,
  ) {
    redis.defineCommand('clientIdClaim', { numberOfKeys: 2, lua: CLAIM });
    redis.defineCommand('clientIdRelease', { numberOfKeys: 2, lua: RELEASE });
    redis.defineCommand('clientIdSessionEnded', { numberOfKeys: 1, lua: SESSION_ENDED });
    redis.defineCommand('clientIdReap', { numberOfKeys: 1, lua: REAP });
    redis.defineCommand('clientIdRestore', { numberOfKeys: 2, lua: RESTORE });
    this.scripts = redis as unknown as Scripts;
  }

  async claim(clientId: string, userId: string, persistent: boolean): Promise<ClaimResult> {
    const record = this.keys.clientId(clientId);
    const index = this.keys.nodeClientIds(this.nodeId);
    const owner = await this.scripts.clientIdClaim(record, index, userId, persistent ? 1 : 0, this.nodeId, clientId);
    if (owner !== '') return { ok: false, owner };
    const mine = this.held.get(clientId);
    if (mine && mine.userId === userId) {
      mine.holds++;
      mine.persistent = persistent;
    } else this.held.set(clientId, { userId, persistent, holds: 1 });
    const release = once(() => {
      const entry = this.held.get(clientId);
      if (entry && --entry.holds <= 0) this.held.delete(clientId);
      this.scripts.clientIdRelease(record, index, this.nodeId, clientId).catch(this.onError);
    });
    return { ok: true, release };
  }

  /**
   * Writes back every hold this node's live connections have: after this node was declared down while
   * alive, the survivor freed them (`reapNode`). Resolves to the ids another user claimed meanwhile
   * (left to that user: its CONNECT took the id over, and aedes closes this node's connection).
   */
  async restoreHolds(): Promise<string[]> {
    const index = this.keys.nodeClientIds(this.nodeId);
    const lost: string[] = [];
    await Promise.all(
      [...this.held].map(async ([clientId, { userId, persistent, holds }]) => {
        const owner = await this.scripts.clientIdRestore(this.keys.clientId(clientId), index, userId, persistent ? 1 : 0, this.nodeId, clientId, holds);
        if (owner !== '') lost.push(clientId);
      }),
    );
    return lost;
  }

  async ownerOf(clientId: string): Promise<string | undefined> {
    return (await this.redis.hget(this.keys.clientId(clientId), 'user')) ?? undefined;
  }

  async sessionEnded(clientId: string): Promise<void> {
    await this.scripts.clientIdSessionEnded(this.keys.clientId(clientId));
  }

  /** `node` is down (or restarting): its connections hold no client id any more. */
  async reapNode(node: string): Promise<void> {
    await this.scripts.clientIdReap(this.keys.nodeClientIds(node), this.keys.clientId(''), node);
  }
}

/**
 * The Redis side of aedes in cluster mode (src/store/redis-aedes.ts), against a real redis-server:
 * retained user records never go back in time, and persistent-session queues stay bounded.
 */
import { createRequire } from 'node:module';
import t from 'tap';
import { capRedisQueues, redisAedes } from '../src/store/redis-aedes.js';
import { ClusterKeys } from '../src/store/redis-keys.js';
import { startRedis } from './fixtures/redis.js';

const event = (seq: number) => Buffer.from(JSON.stringify({ action: seq % 2 ? 'online' : 'offline', id: 'u', seq }));

t.test('a retained presence/user record is replaced only by a higher seq, whatever the order of the writes', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  const keys = new ClusterKeys('rt');
  const parts = redisAedes(redis.url, keys, 'presence/user/', 'N1', () => {});
  t.teardown(() => parts.close());
  const retained = async () => {
    const raw = await redis.client().hgetBuffer(`${keys.aedes()}retained`, 'presence/user/u');
    return raw === null ? undefined : raw;
  };
  const store = (seq: number) => parts.persistence.storeRetained({ topic: 'presence/user/u', payload: event(seq), qos: 1, retain: true } as never);
  await store(20);
  await store(10); // a slower node's older event arrives last
  t.match((await retained())?.toString(), /"seq":20/, 'the older event did not replace the newer');
  await store(30);
  t.match((await retained())?.toString(), /"seq":30/, 'a newer event replaces it');
  // Other topics are stored as aedes always did.
  await parts.persistence.storeRetained({ topic: 'other/t', payload: Buffer.from('x'), qos: 0, retain: true } as never);
  t.ok(await redis.client().hexists(`${keys.aedes()}retained`, 'other/t'), 'other retained topics unaffected');
  for (const connection of parts.connections) connection.disconnect();
});

t.test('persistent-session queues stop at maxPerSession; undeliverable packets are not queued', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  const keys = new ClusterKeys('q');
  const parts = redisAedes(redis.url, keys, 'presence/user/', 'N1', () => {});
  t.teardown(() => parts.close());
  const full: string[] = [];
  const queues = capRedisQueues(parts.persistence, redis.url, keys, {
    maxPerSession: 3,
    deliverable: (packet) => packet.brokerCounter !== 99,
    onFull: (clientId) => full.push(clientId),
  });
  t.teardown(() => queues.close());
  for (let i = 1; i <= 6; i++) {
    await parts.persistence.outgoingEnqueueCombi([{ clientId: 'sleeper' }], { cmd: 'publish', topic: 'x', payload: Buffer.from(String(i)), qos: 1, brokerId: 'N1', brokerCounter: i } as never);
  }
  await parts.persistence.outgoingEnqueueCombi([{ clientId: 'other' }], { cmd: 'publish', topic: 'x', payload: Buffer.from('no'), qos: 1, brokerId: 'N1', brokerCounter: 99 } as never);
  t.equal(await redis.client().llen(`${keys.aedes()}outgoing:sleeper`), 3, 'the queue holds maxPerSession');
  t.equal(queues.dropped, 3, 'the rest were dropped and counted');
  t.strictSame(full, ['sleeper'], 'reported once per episode');
  t.equal(await redis.client().llen(`${keys.aedes()}outgoing:other`), 0, 'an undeliverable packet is not queued');
  for (const connection of parts.connections) connection.disconnect();
});

t.test("the will delete aedes runs before every CONNACK costs no Redis command; addressed will deletes still work", async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  const keys = new ClusterKeys('w');
  const parts = redisAedes(redis.url, keys, 'presence/user/', 'N1', () => {});
  t.teardown(() => parts.close());
  const persistence = parts.persistence;
  // A will as aedes-persistence-redis' putWill stores it for client `dev` on broker N1.
  const willKey = `${keys.aedes()}will:N1:dev`;
  const msgpack = createRequire(import.meta.url)('msgpack-lite') as { encode(value: unknown): Buffer };
  await redis.client().set(willKey, msgpack.encode({ topic: 'presence/conn/u/dev', payload: Buffer.from('gone'), clientId: 'dev', brokerId: 'N1' }));
  await redis.client().rpush(`${keys.aedes()}will`, 'will:N1:dev');
  t.equal(await redis.client().exists(willKey), 1, 'the will is stored under the broker id');
  const calls = async () => {
    const stats = await redis.client().info('commandstats');
    return [...stats.matchAll(/cmdstat_(\w+):calls=(\d+)/g)].filter(([, name]) => !['info', 'exists', 'set', 'rpush'].includes(name!)).reduce((sum, m) => sum + Number(m[2]), 0);
  };
  const before = await calls();
  // What aedes' connect handler passes: its Client, which has an id and no brokerId.
  t.equal(await persistence.delWill({ id: 'dev' }), null, 'answered "no will"');
  t.equal(await calls(), before, 'no Redis command was sent');
  t.equal(await redis.client().exists(willKey), 1, 'the stored will is untouched (as before: that key was never the one looked up)');
  t.ok(await persistence.delWill({ id: 'dev', brokerId: 'N1' }), 'a delete naming the broker returns the will');
  t.equal(await redis.client().exists(willKey), 0, 'and removes it');
  for (const connection of parts.connections) connection.disconnect();
});

/**
 * Issue 12: aedes' (and mqtt-packet's, mqemitter-redis') internals are reached only from
 * src/broker/aedes-internals.ts (and mqtt.js' from src/client/mqtt-transport.ts), and a start-up check
 * fails loudly, naming aedes' version and what moved, on an aedes whose internals moved.
 */
import { readdir, readFile } from 'node:fs/promises';
import { Aedes, type Client } from 'aedes';
import t, { type Test } from 'tap';
import { assertAedesShape, prefixRedisChannels } from '../src/broker/aedes-internals.js';
import { PresenceBroker } from '../src/broker/presence-broker.js';
import { silentLogger } from '../src/log/logger.js';
import { redisAedes } from '../src/store/redis-aedes.js';
import { ClusterKeys } from '../src/store/redis-keys.js';
import { startRedis } from './fixtures/redis.js';

const AEDES_VERSION = (JSON.parse(await readFile(new URL('../node_modules/aedes/package.json', import.meta.url), 'utf8')) as { version: string }).version;

async function realAedes(t: Test, options: Record<string, unknown> = {}): Promise<Aedes> {
  const aedes = await Aedes.createBroker(options as never);
  t.teardown(() => new Promise<void>((resolve) => aedes.close(() => resolve())));
  return aedes;
}

/** The error for one moved internal: aedes' version, the field, what was expected. */
const movedError = (field: string, expected: string) =>
  new RegExp(`^aedes ${AEDES_VERSION.replaceAll('.', '\\.')} is not the aedes presence-bridge was built on \\(~1\\.2\\.0\\): its internals moved: ${field.replaceAll('.', '\\.')} \\(expected ${expected}, found undefined\\)\\. `);

t.test('the shape check passes on the real aedes, and its probe client leaves no trace', async (t) => {
  const aedes = await realAedes(t);
  const events: string[] = [];
  for (const event of ['client', 'clientDisconnect', 'clientError', 'connectionError', 'unsubscribe'] as const) (aedes as NodeJS.EventEmitter).on(event, () => events.push(event));
  t.doesNotThrow(() => assertAedesShape(aedes));
  t.equal(aedes.connectedClients, 0, 'no client counted');
  t.same(Object.keys((aedes as unknown as { clients: object }).clients), [], 'no client registered');
  await new Promise((resolve) => setImmediate(resolve));
  t.same(events, [], 'no client event');
});

t.test('the shape check passes on aedes with the Redis persistence and emitter of a cluster', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  const parts = redisAedes(redis.url, new ClusterKeys('shape'), 'presence/user/', 'N1', () => {});
  t.teardown(() => parts.close());
  const aedes = await realAedes(t, { id: 'N1', persistence: parts.persistence, mq: parts.mq });
  await redis.client().set('shape:aedes:incoming:null', 'kept');
  t.doesNotThrow(() => assertAedesShape(aedes));
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.equal(await redis.client().get('shape:aedes:incoming:null'), 'kept', 'the probe client cleaned no session state');
});

t.test('an aedes field that moved: one clear error naming the version and the field', async (t) => {
  const aedes = await realAedes(t);
  delete (aedes as unknown as { maxTopicLevels?: number }).maxTopicLevels;
  t.throws(() => assertAedesShape(aedes), movedError('aedes.maxTopicLevels', 'number'));
});

t.test('the broker refuses to start on an aedes whose internals moved, and leaves aedes closed', async (t) => {
  const prototype = Aedes.prototype as unknown as { unregisterClient?: unknown };
  const unregisterClient = prototype.unregisterClient;
  delete prototype.unregisterClient;
  t.teardown(() => {
    prototype.unregisterClient = unregisterClient;
  });
  const closed: Aedes[] = [];
  const close = Aedes.prototype.close;
  Aedes.prototype.close = function (this: Aedes, cb) {
    closed.push(this);
    return close.call(this, cb);
  };
  t.teardown(() => {
    Aedes.prototype.close = close;
  });
  const options = { layout: { prefix: 'presence', groupPrefix: 'group' }, graceMs: 0, maxDataBytes: 1024, log: silentLogger };
  await t.rejects(PresenceBroker.create(options), movedError('aedes.unregisterClient', 'function'));
  t.equal(closed.length, 1, 'the aedes it created was closed');
  t.ok(closed[0]?.closed, 'and is closed');
});

t.test('an aedes method that moved', async (t) => {
  const aedes = await realAedes(t);
  (aedes as unknown as { unregisterClient?: unknown }).unregisterClient = undefined;
  t.throws(() => assertAedesShape(aedes), movedError('aedes.unregisterClient', 'function'));
});

t.test('a persistence method that moved', async (t) => {
  const aedes = await realAedes(t);
  const persistence = (aedes as unknown as { persistence: Record<string, unknown> }).persistence;
  persistence.createRetainedStreamCombi = undefined;
  t.throws(() => assertAedesShape(aedes), movedError('aedes.persistence.createRetainedStreamCombi', 'function'));
});

t.test("a client's field that moved (checked on a probe client)", async (t) => {
  const aedes = await realAedes(t);
  const handle = aedes.handle;
  aedes.handle = (conn, req) => {
    const client = handle(conn, req) as Client & { _will?: unknown };
    delete client._will;
    return client;
  };
  t.throws(() => assertAedesShape(aedes), movedError('client._will', 'object'));
});

t.test("a method of the client's mqtt-packet parser that moved", async (t) => {
  const aedes = await realAedes(t);
  const handle = aedes.handle;
  aedes.handle = (conn, req) => {
    const client = handle(conn, req) as Client & { _parser: { _parseString?: unknown } };
    client._parser._parseString = undefined;
    return client;
  };
  t.throws(() => assertAedesShape(aedes), movedError('client._parser._parseString', 'function'));
});

t.test("mqemitter-redis' channel naming that moved: a clear error before anything is prefixed", async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  const parts = redisAedes(redis.url, new ClusterKeys('shape2'), 'presence/user/', 'N1', () => {});
  t.teardown(() => {
    for (const connection of parts.connections) connection.disconnect();
  });
  const mq = parts.mq as { _subTopic?: unknown };
  mq._subTopic = undefined;
  t.throws(() => prefixRedisChannels(mq, 'x:'), /^mqemitter-redis \d+\.\d+\.\d+ is not the mqemitter-redis presence-bridge was built on \(~7\.2\): its internals moved: mq\._subTopic \(expected function, found undefined\)/);
});

/**
 * What reaching an internal looks like in source: an underscore member; a member aedes does not
 * document, read off aedes or a client; a cast that widens an aedes object; replacing a method of
 * aedes, a client, a parser or an emitter (the documented handlers excepted).
 */
const RULES: Record<string, RegExp> = {
  'underscore member': /(?:\?\.|\.)\s*_[A-Za-z]\w*|\[\s*['"`]_\w+['"`]\s*\]/,
  'undocumented member': /\b(?:aedes|client|registry)\)?\s*\.\s*(?:persistence|maxTopicLevels|unregisterClient|deleteClient|registerClient|clients|subscriptions|mq|streamBuilder)\b/,
  'widening cast of aedes': /\b(?:Aedes|Client)\s*&\s*\{|\b(?:aedes|broker|client|parser|mq|emitter|pubConn|subConn|registry)\)?\s+as\s+(?:unknown|any)\b/,
  'replaced method': /\b(?:aedes|client|parser|mq|emitter|pubConn|subConn|registry|persistence\.prototype)\s*\)?\s*\.\s*(?!preConnect\b|authenticate\b|authorizePublish\b|authorizeSubscribe\b|authorizeForward\b|published\b)\w+\s*=(?![=>])|\.prototype\.\w+\s*=(?!=)/,
};
const ALLOWED = new Set(['broker/aedes-internals.ts', 'client/mqtt-transport.ts']);

async function sources(dir = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(new URL(`../src/${dir}`, import.meta.url), { withFileTypes: true })) {
    if (entry.isDirectory()) out.push(...(await sources(`${dir}${entry.name}/`)));
    else if (entry.name.endsWith('.ts')) out.push(`${dir}${entry.name}`);
  }
  return out;
}

/** `file:line: rule: code` for every line of src that reaches an internal outside the two allowed files. */
async function internalAccesses(): Promise<string[]> {
  const found: string[] = [];
  for (const file of await sources()) {
    if (ALLOWED.has(file)) continue;
    const lines = (await readFile(new URL(`../src/${file}`, import.meta.url), 'utf8')).split('\n');
    lines.forEach((line, i) => {
      const code = line.replace(/\/\/.*$|^\s*\*.*$/, '');
      for (const [rule, pattern] of Object.entries(RULES)) if (pattern.test(code)) found.push(`${file}:${i + 1}: ${rule}: ${line.trim()}`);
    });
  }
  return found;
}

t.test('no src file but aedes-internals.ts and client/mqtt-transport.ts reaches an internal', async (t) => {
  const files = await sources();
  t.ok(files.length > 50 && files.includes('broker/presence-broker.ts'), `read ${files.length} files`);
  t.same(await internalAccesses(), []);
});

t.test('the rules find each kind of access', async (t) => {
  const hits = (code: string) => Object.entries(RULES).filter(([, pattern]) => pattern.test(code)).map(([rule]) => rule);
  t.same(hits('const will = (client as Client & { _will?: Will })._will;'), ['underscore member', 'widening cast of aedes']);
  t.same(hits("parser['_parseLength'] = guarded;"), ['underscore member']);
  t.same(hits('guard(persistence, (aedes as unknown as { maxTopicLevels: number }).maxTopicLevels);'), ['widening cast of aedes']);
  t.same(hits('return aedes.persistence;'), ['undocumented member']);
  t.same(hits('const filters = Object.keys(client.subscriptions);'), ['undocumented member']);
  t.same(hits('aedes.handle = (conn, req) => wrap(handle(conn, req));'), ['replaced method']);
  t.same(hits('registry.unregisterClient = (client) => {};'), ['undocumented member', 'replaced method']);
  t.same(hits('mq.on = () => {};'), ['replaced method']);
  t.same(hits('(pubConn as unknown as { publish: typeof publish }).publish = (ch, m) => publish(prefix + ch, m);'), ['widening cast of aedes']);
  // API: the documented handlers, events, a persistence's interface, packets' own fields.
  t.same(hits('aedes.authenticate = authenticate(ctx);'), []);
  t.same(hits("aedes.on('subscribe', onSubscribe(ctx));"), []);
  t.same(hits('persistence.outgoingEnqueue = async (sub, packet) => {};'), []);
  t.same(hits('if (packet.cmd !== "subscribe" || !packet.subscriptions) return;'), []);
  t.same(hits('if (aedes.closed) return;'), []);
});

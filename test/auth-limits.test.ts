import { connect as tcpConnect, createServer, type AddressInfo } from 'node:net';
import { Security } from '../src/auth/security.js';
import { PresenceBroker } from '../src/broker/presence-broker.js';
import { silentLogger } from '../src/log/logger.js';
import t from 'tap';
import { grants } from './fixtures/auth.js';
import { client, once, refusedCode, WAIT_MS } from './fixtures/mqtt.js';
import { serve, type LogRecord } from './fixtures/server.js';

/** Waits for a condition the server reaches asynchronously (re-checked on every turn of the loop). */
async function until(ready: () => boolean, label: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const refusal = (logs: LogRecord[], pattern: RegExp) => logs.some((l) => /refused|closed/.test(l.msg) && pattern.test(String(l.reason)));

t.test('max connections per user: the next one is refused with 5; a takeover is no extra connection', async (t) => {
  const { server, mqttUrl, logs } = await serve(t, { maxConnectionsPerUser: 2 });
  const a = await client(t, mqttUrl, { clientId: 'a-1', username: 'alice' });
  await client(t, mqttUrl, { clientId: 'a-2', username: 'alice' });
  t.equal(await refusedCode(mqttUrl, { clientId: 'a-3', username: 'alice' }), 5, 'a third connection: 5');
  t.ok(refusal(logs, /^too many connections/), 'logged with the reason');
  await client(t, mqttUrl, { clientId: 'a-2', username: 'alice' }); // takeover of a-2
  t.pass('taking over an own client id is allowed at the limit');
  await client(t, mqttUrl, { clientId: 'b-1', username: 'bob' });
  t.pass('other users are not affected');
  await a.endAsync();
  await until(() => server.broker.security.connectionsOf('alice') === 1, "alice's closed connection to be released");
  await client(t, mqttUrl, { clientId: 'a-3', username: 'alice' });
  t.pass('a freed slot can be used again');
});

t.test('connection slots are released for WebSocket connections too', async (t) => {
  const { server, wsUrl } = await serve(t, { maxConnectionsPerUser: 1 });
  const first = await client(t, wsUrl, { clientId: 'ws-1', username: 'wendy' });
  t.equal(await refusedCode(wsUrl, { clientId: 'ws-2', username: 'wendy' }), 5, 'the limit holds over WebSocket');
  await first.endAsync();
  await until(() => server.broker.security.connectionsOf('wendy') === 0, "wendy's WebSocket slot to be released");
  await client(t, wsUrl, { clientId: 'ws-2', username: 'wendy' });
  t.pass('the slot is free again');
});

t.test('max groups per user and max members per group: the join is denied with 0x80 and no join happens', async (t) => {
  const { server, mqttUrl, logs } = await serve(t, { maxGroupsPerUser: 2, maxMembersPerGroup: 2 });
  const alice = await client(t, mqttUrl, { clientId: 'a-1', username: 'alice' });
  t.same(await grants(alice, ['group/a', 'group/b/chat', 'group/c']), [1, 1, 128], 'a third group is refused');
  t.same(await grants(alice, ['group/a/other']), [1], 'another topic of a group she is in is fine');
  t.ok(refusal(logs, /^join refused: too many groups/), 'logged');
  const bob = await client(t, mqttUrl, { clientId: 'b-1', username: 'bob' });
  const carol = await client(t, mqttUrl, { clientId: 'c-1', username: 'carol' });
  t.same(await grants(bob, ['group/a']), [1]);
  t.same(await grants(carol, ['group/a']), [128], 'a third member of group a is refused');
  t.ok(refusal(logs, /^join refused: group is full/), 'logged');
  // The announcement path obeys the same caps.
  await carol.publishAsync('presence/member/a/carol', JSON.stringify({ action: 'join' }), { qos: 1 });
  t.ok(logs.some((l) => l.msg === 'publish refused' && /^join refused: group is full/.test(String(l.reason))));
  await server.broker.tracker.settled();
  const state = await server.broker.tracker.user('carol');
  t.same(state?.groups, [], 'carol is in no group');
  const aliceState = await server.broker.tracker.user('alice');
  t.same(aliceState?.groups.sort(), ['a', 'b'], 'alice is in exactly the two groups granted');
});

t.test('max user ids per SUBSCRIBE: an oversized batch of user filters is refused whole', async (t) => {
  const { mqttUrl, logs } = await serve(t, { maxUserIdsPerSubscribe: 3 });
  const watcher = await client(t, mqttUrl, { clientId: 'w-1', username: 'w' });
  const four = ['u1', 'u2', 'u3', 'u4'].map((u) => `presence/user/${u}`);
  t.same(await grants(watcher, [...four, 'chat/x']), [128, 128, 128, 128, 1], 'four user ids: all refused, other filters untouched');
  t.ok(refusal(logs, /^too many user ids: 4 in one SUBSCRIBE \(limit 3\)/), 'logged with count and limit');
  t.same(await grants(watcher, four.slice(0, 3)), [1, 1, 1], 'three in one packet are fine');
  t.same(await grants(watcher, four.slice(3)), [1], 'and the fourth in another packet');
});

t.test('max packet size: an oversized packet closes its connection before the body is read', async (t) => {
  const { mqttUrl, logs } = await serve(t, { maxPacketBytes: 4096 });
  const big = await client(t, mqttUrl, { clientId: 'big', username: 'big' });
  const other = await client(t, mqttUrl, { clientId: 'other', username: 'other' });
  await big.publishAsync('chat/x', Buffer.alloc(4000), { qos: 0 });
  t.ok(big.connected, 'a packet under the limit passes');
  const closed = once(big, 'close', 'the server closing the oversized sender');
  big.publish('chat/x', Buffer.alloc(5000), { qos: 0 });
  await closed;
  t.ok(refusal(logs, /^packet too large: 50\d\d bytes \(limit 4096\)/), 'logged with size and limit');
  t.ok(other.connected, 'other connections are untouched');

  // A header announcing 200 MiB and nothing after it: refused at once, not buffered while waiting.
  const { port } = new URL(mqttUrl);
  const socket = tcpConnect(Number(port), '127.0.0.1');
  t.teardown(() => socket.destroy());
  await once(socket, 'connect');
  const connectPacket = Buffer.from('101000044d5154540402003c0004726177310000', 'hex').subarray(0, 18);
  socket.write(Buffer.concat([Buffer.from([0x10, 16]), connectPacket.subarray(2)]));
  socket.write(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x64]));
  await once(socket, 'close', 'the raw socket to be closed');
  t.ok(refusal(logs, /^packet too large: 209715200 bytes/), 'a 200 MiB announcement closes the connection, for its size');
});

t.test('connect rate per IP: a burst beyond the bucket is refused with 3 (server unavailable)', async (t) => {
  const { mqttUrl, logs } = await serve(t, { connectRatePerIp: 1, connectBurstPerIp: 3, connectRateExemptLoopback: false });
  for (let i = 0; i < 3; i++) await client(t, mqttUrl, { clientId: `r-${i}`, username: `r${i}` });
  t.equal(await refusedCode(mqttUrl, { clientId: 'r-x', username: 'rx' }), 3, 'the fourth connect within a second: 3');
  t.ok(refusal(logs, /^connect rate exceeded/), 'logged');
});

t.test('loopback is exempt from the connect rate by default', async (t) => {
  const { mqttUrl } = await serve(t, { connectRatePerIp: 1, connectBurstPerIp: 1 });
  for (let i = 0; i < 4; i++) await client(t, mqttUrl, { clientId: `l-${i}` });
  t.pass('four quick connects from 127.0.0.1');
});

t.test('anonymous: refused to start beyond loopback unless authentication or --allow-anonymous; loud when anonymous', async (t) => {
  await t.rejects(serve(t, { host: '0.0.0.0' }), /refusing to listen on 0\.0\.0\.0 with anonymous clients/);
  const open = await serve(t, { host: '0.0.0.0', allowAnonymous: true });
  const warning = open.logs.find((l) => /ANONYMOUS CLIENTS ALLOWED/.test(l.msg));
  t.equal(warning?.level, 'warn', 'an anonymous server warns');
  t.equal(warning?.loopbackOnly, false);
  const local = await serve(t);
  t.equal(local.logs.find((l) => /ANONYMOUS CLIENTS ALLOWED/.test(l.msg))?.level, 'warn', 'also on loopback');
  const secret = 'x'.repeat(40);
  const authed = await serve(t, { host: '0.0.0.0', jwtSecret: secret });
  t.ok(authed.logs.some((l) => l.msg === 'authentication required: anonymous clients are refused'), 'configured authentication counts');
});

t.test('every refusal reaches the metric hook with a short, bounded label', async (t) => {
  const counted: string[] = [];
  const broker = await PresenceBroker.create({
    layout: { prefix: 'presence', groupPrefix: 'group' },
    graceMs: 0,
    maxDataBytes: 1024,
    log: silentLogger,
    security: new Security({ log: silentLogger, limits: { maxUserIdsPerSubscribe: 1, maxGroupsPerUser: 1, maxConnectionsPerUser: 1 } }),
    onRefused: (what, code) => counted.push(`${what}:${code}`),
  });
  const tcp = createServer((socket) => broker.aedes.handle(socket));
  await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
  t.teardown(async () => {
    tcp.close();
    await broker.close();
  });
  const url = `mqtt://127.0.0.1:${(tcp.address() as AddressInfo).port}`;
  const alice = await client(t, url, { clientId: 'a-1', username: 'alice' });
  await grants(alice, ['presence/user/x', 'presence/user/y']);
  await grants(alice, ['group/g1', 'group/g2']);
  t.equal(await refusedCode(url, { clientId: 'a-2', username: 'alice' }), 5);
  await alice.publishAsync('presence/user/bob', '{}', { qos: 1 });
  t.same(counted.sort(), [
    'connection:too_many_connections',
    'publish:spoofing',
    'subscribe:too_many_groups',
    'subscribe:too_many_user_ids',
    'subscribe:too_many_user_ids',
  ]);
});

t.test('a flood of refusals is answered in full but logged in bounded lines', async (t) => {
  const { mqttUrl, logs } = await serve(t, { maxUserIdsPerSubscribe: 1 });
  const c = await client(t, mqttUrl, { clientId: 'flood', username: 'flood' });
  const filters = Array.from({ length: 300 }, (_, i) => `presence/user/u${i}`);
  const granted = await grants(c, filters);
  t.equal(granted.length, 300);
  t.ok(granted.every((q) => q === 128), 'every filter refused');
  const lines = logs.filter((l) => l.msg === 'subscription refused').length;
  t.ok(lines >= 1 && lines <= 50, `refusal log lines are capped (${lines})`);
  t.ok(c.connected, 'the client is still connected');
});

/**
 * A persistent session (clean=false) that subscribes and goes away must not make the server hold every
 * later message for it: its queue is capped (`maxQueuedMessages`, default 1000), the oldest messages go
 * first, and on its return it gets at most the cap, the newest ones, in order.
 */
import { connect, type MqttClient } from 'mqtt';
import t from 'tap';
import { resolveServeConfig } from '../src/config.js';
import { client, subscribe, watcher, WAIT_MS } from './fixtures/mqtt.js';
import { waitFor } from './fixtures/raw-sessions.js';
import { serve } from './fixtures/server.js';

/** Connects a persistent session, collecting what it receives from the first packet after CONNACK on. */
interface Persistent {
  client: MqttClient;
  received: { topic: string; payload: string }[];
  sessionPresent: boolean;
  end: () => Promise<void>;
}

async function persistent(url: string, clientId: string): Promise<Persistent> {
  const c = connect(url, { clientId, clean: false, reconnectPeriod: 0, connectTimeout: WAIT_MS, protocolVersion: 4 });
  const received: { topic: string; payload: string }[] = [];
  c.on('message', (topic, payload) => received.push({ topic, payload: payload.toString() }));
  const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
    c.once('connect', resolve);
    c.once('error', reject);
  });
  return { client: c, received, sessionPresent: connack.sessionPresent, end: () => c.endAsync() };
}

t.test('a persistent session that went away keeps at most the cap, the newest, and gets them on return', async (t) => {
  const CAP = 25;
  const GROUPS = 60;
  const { server, mqttUrl, logs } = await serve(t, { maxQueuedMessages: CAP, logLevel: 'warn' });
  const broker = server.broker;
  const watch = await watcher(t, mqttUrl);

  const first = await persistent(mqttUrl, 'sleeper');
  t.equal(first.sessionPresent, false, 'a new session');
  t.same(await subscribe(first.client, 'presence/group/+'), [1], 'the sleeper watches every group at QoS 1');
  await first.end();
  await watch.find((m) => m.topic === 'presence/user/sleeper' && m.json.action === 'offline', 'the sleeper offline');

  // Many events while it is away: one join per group.
  const actor = await client(t, mqttUrl, { clientId: 'actor' });
  for (let i = 0; i < GROUPS; i++) {
    await actor.subscribeAsync(`group/g${i}`);
    await watch.find((m) => m.topic === `presence/group/g${i}` && m.json.action === 'join', `the join of g${i}`);
    t.ok(broker.offlineQueues.size('sleeper') <= CAP, `after ${i + 1} joins the queue holds ${broker.offlineQueues.size('sleeper')} (cap ${CAP})`);
  }
  await broker.publisher.drained();
  t.equal(broker.offlineQueues.size('sleeper'), CAP, 'the queue is full, not beyond');
  t.equal(broker.offlineQueues.dropped, GROUPS - CAP, 'every message beyond the cap was dropped');
  t.equal(logs.filter((l) => l.msg.startsWith('message queue full')).length, 1, 'the full queue is logged once, not per message');

  const back = await persistent(mqttUrl, 'sleeper');
  t.equal(back.sessionPresent, true, 'the session was kept');
  await waitFor(() => broker.offlineQueues.size('sleeper') === 0, 'the sleeper to acknowledge its queue');
  const joins = back.received.filter((m) => m.topic.startsWith('presence/group/')).map((m) => JSON.parse(m.payload) as { groupId: string; action: string });
  t.ok(joins.every((e) => e.action === 'join'), 'only the joins');
  t.same(
    joins.map((e) => e.groupId),
    Array.from({ length: CAP }, (_, i) => `g${GROUPS - CAP + i}`),
    `it gets exactly the newest ${CAP}, in order`,
  );
  await back.end();
});

t.test('the default cap is 1000, like Mosquitto max_queued_messages', async (t) => {
  t.equal(resolveServeConfig({}).maxQueuedMessages, 1000);
  t.throws(() => resolveServeConfig({ maxQueuedMessages: 0 }), /maxQueuedMessages/, 'an unbounded queue is not configurable');
  const { server, mqttUrl } = await serve(t, { logLevel: 'warn' });
  const first = await persistent(mqttUrl, 'away');
  await first.client.subscribeAsync('plain/#', { qos: 1 });
  await first.end();
  const publisher = await client(t, mqttUrl, { clientId: 'publisher' });
  const N = 1100;
  await Promise.all(Array.from({ length: N }, (_, i) => publisher.publishAsync('plain/x', String(i), { qos: 1 })));
  t.equal(server.broker.offlineQueues.size('away'), 1000, `${N} QoS 1 messages while away: 1000 kept`);
  t.equal(server.broker.offlineQueues.total, 1000, 'nothing is held for anyone else');
  const back = await persistent(mqttUrl, 'away');
  await waitFor(() => server.broker.offlineQueues.size('away') === 0, 'the queue to be acknowledged');
  t.same(
    back.received.map((m) => Number(m.payload)),
    Array.from({ length: 1000 }, (_, i) => N - 1000 + i),
    'on return: the newest 1000, in order',
  );
  await back.end();
});

t.test('what the product never delivers is not queued, so spoofs cannot push events out of a queue', async (t) => {
  const { server, mqttUrl } = await serve(t, { maxQueuedMessages: 10, logLevel: 'error' });
  const watch = await watcher(t, mqttUrl);
  const first = await persistent(mqttUrl, 'sleeper2');
  t.same(await subscribe(first.client, ['presence/#', '$SYS/#']), [1, 1]);
  await first.end();
  await watch.find((m) => m.topic === 'presence/user/sleeper2' && m.json.action === 'offline', 'the sleeper offline');
  await server.broker.publisher.drained();
  const before = server.broker.offlineQueues.size('sleeper2');

  const spoofer = await client(t, mqttUrl, { clientId: 'spoofer' });
  await watch.find((m) => m.topic === 'presence/user/spoofer' && m.json.action === 'online', 'the spoofer online');
  await server.broker.publisher.drained();
  const withOnline = server.broker.offlineQueues.size('sleeper2');
  t.equal(withOnline, before + 1, 'a genuine event is queued');
  for (let i = 0; i < 30; i++) {
    await spoofer.publishAsync('presence/user/victim', JSON.stringify({ action: 'online', id: 'victim', seq: 1e9 + i }), { qos: 1 });
    await spoofer.publishAsync('presence/group/g1', JSON.stringify({ action: 'join', id: 'victim', groupId: 'g1' }), { qos: 1 });
    await spoofer.publishAsync('$SYS/x', 'x', { qos: 1 });
  }
  t.equal(server.broker.offlineQueues.size('sleeper2'), withOnline, '90 spoofed QoS 1 publishes queued nothing');
  t.equal(server.broker.offlineQueues.dropped, 0, 'and dropped nothing');
});

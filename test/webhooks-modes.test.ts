import t from 'tap';
import { attach } from './fixtures/bridge.js';
import { ManualClock } from './fixtures/clock.js';
import { forEachMode } from './fixtures/modes.js';
import { mosquitto } from './fixtures/mosquitto.js';
import { client, Inbox, subscribe } from './fixtures/mqtt.js';
import { sample, scrape } from './fixtures/prometheus.js';
import { asWebhookEvents, signatureProblem, TestReceiver } from './fixtures/receiver.js';
import { serve } from './fixtures/server.js';

const SECRET = 'modes-test-secret';


t.test('both modes deliver exactly what they publish', async (t) => {
  const receivers = { serve: await TestReceiver.start(t), attach: await TestReceiver.start(t) };
  forEachMode(
    t,
    'events reach a signed receiver in publish order',
    async (t, mode) => {
      const receiver = receivers[mode.name];
      const watch = await mode.watcher(t);
      const alice = await mode.client(t, 'alice');
      await alice.subscribeGroup({ groupIds: ['room'] });
      const bob = await mode.client(t, 'bob');
      await bob.subscribeGroup({ groupIds: ['room'] });
      await alice.disconnect();
      await watch.find((m) => m.json.id === 'alice' && m.topic === 'presence/group/room' && m.json.action === 'offline', 'alice offline in room');
      const published = asWebhookEvents(watch);
      const delivered = [];
      for (let i = 0; i < published.length; i++) delivered.push(await receiver.events.next(`event ${i + 1} of ${published.length}`));
      t.same(delivered, published);
      t.match(delivered.slice(-3), [
        { type: 'group', action: 'join', id: 'bob', groupId: 'room', groupOnlineCount: 2 },
        { type: 'user', action: 'offline', id: 'alice', reason: mode.reasons.disconnect },
        { type: 'group', action: 'offline', id: 'alice', groupOnlineCount: 1 },
      ]);
      for (const attempt of receiver.tries.all) t.equal(signatureProblem(SECRET, attempt), undefined);
      const metrics = await scrape(mode.httpUrl);
      t.equal(sample(metrics, 'presence_webhook_events_delivered_total', { receiver: '0' }), published.length, `${mode.name} counts them`);
    },
    {
      serve: { webhooks: [{ url: receivers.serve.url, secret: SECRET }] },
      attach: { webhooks: [{ url: receivers.attach.url, secret: SECRET }] },
    },
  );
});

t.test('shutdown sends what is still being batched, server_shutdown offlines included', async (t) => {
  const receiver = await TestReceiver.start(t);
  const clock = new ManualClock();
  // Interval mode off: its own timer (one tick per interval while groups change) would share the
  // test's clock, whose pending timers this test asserts are the webhooks' alone.
  const { server, mqttUrl } = await serve(t, { webhooks: [{ url: receiver.url }], announceMax: 0 }, { feed: clock });
  const alice = await client(t, mqttUrl, { clientId: 'alice-1', username: 'alice' });
  await subscribe(alice, 'group/room');
  await server.broker.tracker.settled();
  t.same(clock.pending(), [250], 'a batch is being gathered; its time never comes (the clock is the test\'s)');
  t.equal(receiver.tries.all.length, 0);
  await server.close();
  t.match(
    receiver.events.all,
    [
      { type: 'user', action: 'online', id: 'alice' },
      { type: 'group', action: 'join', id: 'alice' },
      { type: 'user', action: 'offline', id: 'alice', reason: 'server_shutdown' },
      { type: 'group', action: 'offline', id: 'alice', reason: 'server_shutdown' },
    ],
    'all out before close resolved',
  );
  t.equal(receiver.events.all.length, 4);
});

t.test('shutdown gives a receiver that does not answer a bounded chance, then drops the rest and logs it', async (t) => {
  const receiver = await TestReceiver.start(t);
  receiver.answer = () => 'hang';
  const { server, mqttUrl, logs } = await serve(t, { webhooks: [{ url: receiver.url }], webhookShutdownMs: 300 });
  await client(t, mqttUrl, { clientId: 'alice-1', username: 'alice' });
  await receiver.tries.next('a try that hangs');
  const started = Date.now();
  await server.close();
  const took = Date.now() - started;
  t.ok(took < 4000, `close took ${took} ms: the shutdown limit, not the 5 s try timeout`);
  const left = logs.find((l) => l.msg === 'webhook events not delivered before shutdown');
  t.match(left, { level: 'warn', receiver: 0, events: 2 }, 'the hanging online and the shutdown offline');
});

t.test('attach mode: closing the bridge sends what is pending', async (t) => {
  const broker = await mosquitto(t);
  if (!broker) return;
  const receiver = await TestReceiver.start(t);
  const { running } = await attach(t, broker, { webhooks: [{ url: receiver.url }] });
  const watch = new Inbox(await client(t, broker.url, { ...broker.as('watcher'), clientId: 'watcher-1' }));
  await subscribe(watch.client, 'presence/group/+');
  const alice = await client(t, broker.url, { ...broker.as('alice'), clientId: 'alice-1' });
  await alice.publishAsync('presence/member/room/alice', JSON.stringify({ action: 'join' }), { qos: 1, retain: true });
  await watch.next('alice joins room');
  await running.close();
  t.match(receiver.events.all, [{ type: 'group', action: 'join', id: 'alice', groupId: 'room' }], 'delivered before close resolved');
});

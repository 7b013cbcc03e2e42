import t from 'tap';
import { ManualClock } from './fixtures/clock.js';
import { client, subscribe, watcher } from './fixtures/mqtt.js';
import { sample, scrape } from './fixtures/prometheus.js';
import { asWebhookEvents, signatureProblem, TestReceiver } from './fixtures/receiver.js';
import { serve } from './fixtures/server.js';

const INLINE_SECRET = 'inline-secret-of-receiver-zero';
const FILE_SECRET = 'file-secret-of-receiver-one';


/** Reads `count` events from a receiver. */
async function take(receiver: TestReceiver, count: number, label: string): Promise<Record<string, unknown>[]> {
  const events = [];
  for (let i = 0; i < count; i++) events.push(await receiver.events.next(`${label}: event ${i + 1} of ${count}`));
  return events;
}

t.test('every published event is POSTed to each receiver, signed, in the order subscribers see it', async (t) => {
  const inline = await TestReceiver.start(t);
  const fromFlag = await TestReceiver.start(t);
  const dir = t.testdir({ 'webhook.secret': `${FILE_SECRET}\n` });
  const { mqttUrl, httpUrl, logs } = await serve(t, {
    webhooks: [{ url: inline.url, secret: INLINE_SECRET }],
    webhook: [fromFlag.url],
    webhookSecretFile: `${dir}/webhook.secret`,
  });
  const watch = await watcher(t, mqttUrl);
  const alice = await client(t, mqttUrl, { clientId: 'alice-phone', username: 'alice' });
  await subscribe(alice, 'group/g');
  const bob = await client(t, mqttUrl, { clientId: 'bob-laptop', username: 'bob' });
  await subscribe(bob, 'group/g');
  await alice.endAsync();
  await bob.unsubscribeAsync('group/g');
  await watch.find((m) => m.json.action === 'leave', 'bob leaves g');

  const published = asWebhookEvents(watch);
  t.equal(published.length, 8, 'watcher online; alice online, join; bob online, join; alice offline x2; bob leave');
  t.same(await take(inline, published.length, 'receiver 0'), published, 'receiver 0 got exactly what was published, in order');
  t.same(await take(fromFlag, published.length, 'receiver 1'), published, 'receiver 1 too');
  t.match(published, [
    { type: 'user', action: 'online' },
    { type: 'user', action: 'online', id: 'alice', seq: Number },
    { type: 'group', action: 'join', id: 'alice', groupId: 'g', groupOnlineCount: 1 },
    { type: 'user', action: 'online', id: 'bob' },
    { type: 'group', action: 'join', id: 'bob', groupOnlineCount: 2 },
    { type: 'user', action: 'offline', id: 'alice', reason: 'disconnect' },
    { type: 'group', action: 'offline', id: 'alice', groupOnlineCount: 1 },
    { type: 'group', action: 'leave', id: 'bob', groupOnlineCount: 0 },
  ]);

  for (const [receiver, secret] of [[inline, INLINE_SECRET], [fromFlag, FILE_SECRET]] as const) {
    t.ok(receiver.tries.all.length > 0);
    for (const attempt of receiver.tries.all) {
      t.equal(attempt.headers['content-type'], 'application/json');
      t.equal(attempt.headers['user-agent'], 'presence-bridge-webhooks');
      t.equal(signatureProblem(secret, attempt), undefined, `batch ${attempt.id} is signed with its receiver's secret`);
      t.match(attempt.id, /^[0-9a-f-]{36}$/, 'batch id');
      t.same(Object.keys(JSON.parse(attempt.body) as object), ['id', 'events']);
    }
  }
  t.not(signatureProblem(INLINE_SECRET, fromFlag.tries.all[0]!), undefined, 'a signature does not verify with another secret');

  const metrics = await scrape(httpUrl);
  for (const [index, receiver] of [inline, fromFlag].entries()) {
    const labels = { receiver: String(index), host: `127.0.0.1:${receiver.port}` };
    t.equal(sample(metrics, 'presence_webhook_events_delivered_total', labels), published.length, `receiver ${index}: events delivered`);
    t.equal(sample(metrics, 'presence_webhook_batches_delivered_total', labels), receiver.accepted.all.length, `receiver ${index}: batches`);
    t.equal(sample(metrics, 'presence_webhook_delivery_seconds_count', labels), receiver.accepted.all.length);
    t.equal(sample(metrics, 'presence_webhook_failed_tries_total', { ...labels, cause: 'status' }), 0);
  }
  const exposed = JSON.stringify(logs) + metrics;
  for (const secretBit of ['not-for-logs', '/hooks/presence', INLINE_SECRET, FILE_SECRET]) {
    t.notOk(exposed.includes(secretBit), `neither logs nor metrics show ${secretBit}`);
  }
});

t.test('a receiver gets only the actions it asks for; any action name is accepted', async (t) => {
  const presence = await TestReceiver.start(t);
  const joins = await TestReceiver.start(t);
  const all = await TestReceiver.start(t);
  const { server, mqttUrl } = await serve(t, {
    webhooks: [
      { url: presence.url, events: ['online', 'offline'] },
      { url: joins.url, events: ['join', 'update'] },
      { url: all.url },
    ],
  });
  const alice = await client(t, mqttUrl, { clientId: 'alice-1', username: 'alice' });
  await subscribe(alice, ['group/a', 'group/b']);
  await alice.unsubscribeAsync('group/a');
  await alice.endAsync();
  // Shutdown lets every pending batch out, so each receiver now holds all it will ever get.
  await server.close();
  const everything = all.events.all;
  t.match(everything.map((e) => `${String(e.type)} ${String(e.action)}`), ['user online', 'group join', 'group join', 'group leave', 'user offline', 'group offline']);
  t.same(presence.events.all, everything.filter((e) => e.action === 'online' || e.action === 'offline'));
  t.same(joins.events.all, everything.filter((e) => e.action === 'join'));
  t.equal(presence.tries.all[0]!.headers['x-presence-signature'], undefined, 'no secret, no signature');
});

t.test('a batch holds at most 100 events and waits at most 250 ms for more', async (t) => {
  const receiver = await TestReceiver.start(t);
  const clock = new ManualClock();
  // Interval mode off: its own timer (one tick per interval while groups change) would share the
  // test's clock, whose pending timers this test asserts are the webhooks' alone.
  const { mqttUrl } = await serve(t, { webhooks: [{ url: receiver.url }], announceMax: 0 }, { feed: clock });
  const watch = await watcher(t, mqttUrl);
  t.same(clock.pending(), [250], 'the first event starts a batch that waits 250 ms');

  const member = await client(t, mqttUrl, { clientId: 'many-1', username: 'many' });
  // watcher online + member online + 148 joins = 150 events
  await subscribe(member, Array.from({ length: 148 }, (_, i) => `group/g${i}`));
  await watch.find((m) => m.json.groupId === 'g147', 'the last join');
  const first = await receiver.tries.next('the full batch');
  t.equal(first.events.length, 100, 'sealed at 100 events without waiting');
  t.same(first.events.slice(0, 2).map((e) => [e.type, e.action]), [['user', 'online'], ['user', 'online']]);
  t.equal(receiver.tries.all.length, 1, 'the other 50 wait for their batch to fill or its time to pass');
  t.same(clock.pending(), [250]);

  clock.fire(250);
  const second = await receiver.tries.next('the batch sealed by time');
  t.equal(second.events.length, 50);
  t.equal(second.events.at(-1)!.groupId, 'g147', 'in order to the last event');
  t.not(second.id, first.id);
  t.same(clock.pending(), [], 'nothing waits once all is delivered');
});

import t from 'tap';
import { ManualClock } from './fixtures/clock.js';
import { client, subscribe, watcher } from './fixtures/mqtt.js';
import { sample, scrape } from './fixtures/prometheus.js';
import { waitFor } from './fixtures/raw-sessions.js';
import { asWebhookEvents, signatureProblem, TestReceiver } from './fixtures/receiver.js';
import { serve } from './fixtures/server.js';

const SECRET = 'retry-test-secret';


/** One metric of receiver 0, read from /metrics. */
async function metric(httpUrl: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  return sample(await scrape(httpUrl), name, { receiver: '0', ...labels });
}

t.test('a non-2xx answer is retried with backoff: the same batch, freshly signed each try', async (t) => {
  const receiver = await TestReceiver.start(t);
  let answers = 0;
  receiver.answer = () => (answers++ < 2 ? 500 : 200);
  const clock = new ManualClock();
  // Interval mode off: its own timer (one tick per interval while groups change) would share the
  // test's clock, whose pending timers this test asserts are the webhooks' alone.
  const { httpUrl, mqttUrl } = await serve(t, { webhooks: [{ url: receiver.url, secret: SECRET }], announceMax: 0 }, { feed: clock });
  await client(t, mqttUrl, { clientId: 'alice-1', username: 'alice' });
  t.equal(await clock.scheduled.next('the batch timer'), 250);
  const sealedAt = clock.time + 250;
  clock.fire(250);
  const first = await receiver.tries.next('the first try');
  // Backoff 1000 ms, doubled per failure; the delay is drawn from the upper half (jitter 0.5 -> 3/4).
  t.equal(await clock.scheduled.next('the first retry'), 750);
  clock.fire(750);
  const second = await receiver.tries.next('the second try');
  t.equal(await clock.scheduled.next('the second retry'), 1500);
  clock.fire(1500);
  const third = await receiver.tries.next('the third try');
  await receiver.accepted.next('the delivery');

  t.same([first.status, second.status, third.status], [500, 500, 200]);
  t.equal(second.id, first.id, 'the same batch id');
  t.equal(third.body, first.body, 'the same bytes');
  t.same(
    [first, second, third].map((a) => Number(a.headers['x-presence-timestamp'])),
    [sealedAt, sealedAt + 750, sealedAt + 2250],
    'a fresh timestamp per try',
  );
  for (const attempt of [first, second, third]) t.equal(signatureProblem(SECRET, attempt), undefined);
  t.equal(await metric(httpUrl, 'presence_webhook_failed_tries_total', { cause: 'status' }), 2);
  t.equal(await metric(httpUrl, 'presence_webhook_retries_total'), 2);
  t.equal(await metric(httpUrl, 'presence_webhook_batches_delivered_total'), 1);
  t.equal(await metric(httpUrl, 'presence_webhook_events_delivered_total'), 1);
});

t.test('backoff doubles up to its cap, and a batch tried for longer than the retry limit is dropped', async (t) => {
  const receiver = await TestReceiver.start(t, { down: true });
  const clock = new ManualClock();
  // Interval mode off: its own timer (one tick per interval while groups change) would share the
  // test's clock, whose pending timers this test asserts are the webhooks' alone.
  const { httpUrl, mqttUrl, logs } = await serve(
    t,
    { webhooks: [{ url: receiver.url }], webhookBackoffMs: 1000, webhookMaxBackoffMs: 8000, webhookRetryForMs: 30_000, webhookShutdownMs: 0, announceMax: 0 },
    { feed: clock },
  );
  await client(t, mqttUrl, { clientId: 'alice-1', username: 'alice' });
  t.equal(await clock.scheduled.next('the batch timer'), 250);
  clock.fire(250);
  const delays: number[] = [];
  // Tries at 0, 750, 2250, 5250, 11250, 17250, 23250, 29250 ms; the next would be at 35250 > 30000.
  for (let i = 0; i < 7; i++) {
    const delay = await clock.scheduled.next(`retry ${i + 1}`);
    delays.push(delay);
    clock.fire(delay);
  }
  t.same(delays, [750, 1500, 3000, 6000, 6000, 6000, 6000], 'doubling from 1 s, capped at 8 s, jittered into the upper half');
  await waitFor(async () => (await metric(httpUrl, 'presence_webhook_events_dropped_total', { reason: 'expired' })) === 1, 'the batch to expire');
  t.equal(await metric(httpUrl, 'presence_webhook_failed_tries_total', { cause: 'network' }), 8, 'a refused connection is a network failure');
  t.equal(await metric(httpUrl, 'presence_webhook_retries_total'), 7);
  t.ok(logs.some((l) => l.msg === 'webhook batch dropped: retried for too long' && l.tries === 8));
  t.same(clock.pending(), [6000], 'the receiver is still failing: the next batch waits for the backoff');
});

t.test('a refused connection is retried until the receiver listens', async (t) => {
  const receiver = await TestReceiver.start(t, { down: true });
  const { httpUrl, mqttUrl } = await serve(t, { webhooks: [{ url: receiver.url }], webhookBackoffMs: 20, webhookMaxBackoffMs: 100 });
  const watch = await watcher(t, mqttUrl);
  await waitFor(async () => (await metric(httpUrl, 'presence_webhook_failed_tries_total', { cause: 'network' })) >= 2, 'two refused tries');
  await receiver.up();
  t.same(await receiver.events.next('the event, once the receiver is up'), asWebhookEvents(watch)[0]);
  t.ok((await metric(httpUrl, 'presence_webhook_retries_total')) >= 2);
});

t.test('a receiver down for several seconds loses nothing, and gets everything in order', async (t) => {
  const receiver = await TestReceiver.start(t);
  const { httpUrl, mqttUrl } = await serve(t, { webhooks: [{ url: receiver.url }], webhookBackoffMs: 100, webhookMaxBackoffMs: 1000 });
  const watch = await watcher(t, mqttUrl);
  await receiver.events.next('the watcher online');
  await receiver.down();
  const phase = async (name: string, failures: number) => {
    for (let i = 0; i < 5; i++) {
      const c = await client(t, mqttUrl, { clientId: `${name}-${i}`, username: `${name}-${i}` });
      await subscribe(c, [`group/${name}`, 'group/all']);
      if (i % 2 === 0) await c.endAsync();
    }
    await waitFor(async () => (await metric(httpUrl, 'presence_webhook_failed_tries_total', { cause: 'network' })) >= failures, `${failures} failed tries`);
  };
  // Backoff 100, 200, 400, 800, 1000 ms (x3/4 or so): six failures take a few seconds.
  await phase('early', 2);
  await phase('late', 6);
  const published = asWebhookEvents(watch);
  await receiver.up();
  const delivered = [];
  for (let i = 1; i < published.length; i++) delivered.push(await receiver.events.next(`event ${i + 1} of ${published.length}`));
  t.same([receiver.events.all[0], ...delivered], published, 'every event, once per batch id, in publish order');
  t.equal(await metric(httpUrl, 'presence_webhook_events_dropped_total', { reason: 'queue_full' }), 0);
  t.equal(await metric(httpUrl, 'presence_webhook_queue_events'), 0);
});

t.test('beyond its bound a receiver\'s queue drops the oldest batches, and counts and logs them', async (t) => {
  const receiver = await TestReceiver.start(t, { down: true });
  const clock = new ManualClock();
  // Interval mode off: its own timer (one tick per interval while groups change) would share the
  // test's clock, whose pending timers this test asserts are the webhooks' alone.
  const { httpUrl, mqttUrl, logs } = await serve(t, { webhooks: [{ url: receiver.url }], webhookMaxQueue: 200, webhookShutdownMs: 0, announceMax: 0 }, { feed: clock });
  const watch = await watcher(t, mqttUrl);
  const crowd = async (name: string, groups: number) => {
    const c = await client(t, mqttUrl, { clientId: name, username: name });
    await subscribe(c, Array.from({ length: groups }, (_, i) => `group/${name}-${i}`));
    await watch.find((m) => m.json.groupId === `${name}-${groups - 1}`, `${name}'s last join`);
  };
  await crowd('a', 98); // with the watcher's online: batch 1 (100 events), tried and refused
  t.equal(await clock.scheduled.find((ms) => ms === 750, 'the retry after the refusal'), 750);
  await crowd('b', 99); // batch 2
  await crowd('c', 99); // batch 3: batch 1 (waiting for its retry, not in flight) goes
  await crowd('d', 99); // batch 4: batch 2 goes
  t.equal(await metric(httpUrl, 'presence_webhook_events_dropped_total', { reason: 'queue_full' }), 200);
  t.equal(await metric(httpUrl, 'presence_webhook_queue_events'), 200, 'held at the bound');
  t.ok(logs.some((l) => l.msg === 'webhook queue full: the oldest batches were dropped' && l.maxQueue === 200));

  await receiver.up();
  clock.fire(750);
  const published = asWebhookEvents(watch);
  t.equal(published.length, 400);
  const delivered = [];
  for (let i = 0; i < 200; i++) delivered.push(await receiver.events.next(`delivered event ${i + 1}`));
  t.same(delivered, published.slice(200), 'the newest 200, in order');
  await receiver.accepted.next('batch 3');
  await receiver.accepted.next('batch 4');
  t.equal(await metric(httpUrl, 'presence_webhook_queue_events'), 0);
});

t.test('a receiver that does not answer never slows presence; its tries time out and are retried', async (t) => {
  const receiver = await TestReceiver.start(t);
  let hanging = true;
  receiver.answer = () => (hanging ? 'hang' : 200);
  const { httpUrl, mqttUrl } = await serve(t, { webhooks: [{ url: receiver.url }], webhookTimeoutMs: 300, webhookBackoffMs: 50, webhookMaxBackoffMs: 200 });
  const watch = await watcher(t, mqttUrl);
  for (let i = 0; i < 20; i++) {
    const c = await client(t, mqttUrl, { clientId: `busy-${i}`, username: `busy-${i}` });
    await subscribe(c, 'group/busy');
  }
  await watch.find((m) => m.json.id === 'busy-19' && m.json.action === 'join', 'the last join');
  t.equal(receiver.accepted.all.length, 0, 'every event reached MQTT subscribers while the receiver answered nothing');
  await waitFor(async () => (await metric(httpUrl, 'presence_webhook_failed_tries_total', { cause: 'timeout' })) >= 1, 'a try to time out');
  hanging = false;
  const published = asWebhookEvents(watch);
  const delivered = [];
  for (let i = 0; i < published.length; i++) delivered.push(await receiver.events.next(`event ${i + 1}`));
  t.same(delivered, published);
});

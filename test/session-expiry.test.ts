/**
 * Issue 16, item 6: persistent sessions (clean=false) lived forever, each keeping its subscriptions
 * and up to `maxQueuedMessages` messages. With `persistentSessionExpiry` (seconds, like Mosquitto's
 * persistent_client_expiration; 0, the default, keeps them forever) a session whose client stays away
 * that long is removed. Time is driven by a fake Scheduler.
 */
import { connect, type MqttClient } from 'mqtt';
import type { Test } from 'tap';
import t from 'tap';
import { resolveServeConfig } from '../src/config.js';
import { ManualClock } from './fixtures/clock.js';
import { client, WAIT_MS } from './fixtures/mqtt.js';
import { waitFor } from './fixtures/raw-sessions.js';
import { serve } from './fixtures/server.js';

const HOUR = 3600;

/** A persistent session of `clientId`; resolves to the client, whether the session was present, and what it receives. */
async function persistent(t: Test, url: string, clientId: string) {
  const c: MqttClient = connect(url, { clientId, clean: false, reconnectPeriod: 0, connectTimeout: WAIT_MS, protocolVersion: 4 });
  const received: string[] = [];
  c.on('message', (topic) => received.push(topic));
  const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
    c.once('connect', resolve);
    c.once('error', reject);
  });
  t.teardown(() => c.end(true));
  return { c, received, sessionPresent: connack.sessionPresent };
}

async function publishNews(t: Test, url: string, topics: string[]): Promise<void> {
  const p = await client(t, url);
  for (const topic of topics) await p.publishAsync(topic, 'x', { qos: 1 });
  await p.endAsync();
}

t.test('a persistent session away longer than the expiry loses its subscriptions and queue', async (t) => {
  const clock = new ManualClock();
  const { server, mqttUrl, logs } = await serve(t, { persistentSessionExpiry: HOUR }, { scheduler: clock });
  const broker = server.broker;
  const first = await persistent(t, mqttUrl, 'sleeper');
  await first.c.subscribeAsync('news/#', { qos: 1 });
  await first.c.endAsync();
  await waitFor(() => broker.sessionExpiry.pending === 1, 'the expiry timer');
  await publishNews(t, mqttUrl, ['news/1', 'news/2', 'news/3']);
  await waitFor(() => broker.offlineQueues.size('sleeper') === 3, 'three queued messages');

  clock.advance(HOUR * 1000 - 1);
  t.equal(broker.offlineQueues.size('sleeper'), 3, 'one millisecond before the expiry the session is whole');
  clock.advance(1);
  t.equal(broker.offlineQueues.size('sleeper'), 0, 'at the expiry its queue is gone');
  t.equal(broker.sessionExpiry.pending, 0, 'no timer left');
  t.ok(logs.some((l) => l.msg === 'persistent session expired' && l.clientId === 'sleeper'), 'logged');
  await publishNews(t, mqttUrl, ['news/4']);
  t.equal(broker.offlineQueues.size('sleeper'), 0, 'and its subscription: nothing is queued any more');

  const back = await persistent(t, mqttUrl, 'sleeper');
  t.equal(back.sessionPresent, false, 'the client comes back to a new session');
  const marker = await client(t, mqttUrl);
  await back.c.subscribeAsync('marker', { qos: 1 });
  await marker.publishAsync('marker', 'm', { qos: 1 });
  await waitFor(() => back.received.includes('marker'), 'the marker');
  t.same(back.received, ['marker'], 'none of the old messages');
});

t.test('a client back before the expiry keeps its session; the clock starts again when it leaves', async (t) => {
  const clock = new ManualClock();
  const { server, mqttUrl } = await serve(t, { persistentSessionExpiry: HOUR }, { scheduler: clock });
  const broker = server.broker;
  const first = await persistent(t, mqttUrl, 'commuter');
  await first.c.subscribeAsync('news/#', { qos: 1 });
  await first.c.endAsync();
  await waitFor(() => broker.sessionExpiry.pending === 1, 'the expiry timer');
  await publishNews(t, mqttUrl, ['news/a']);
  await waitFor(() => broker.offlineQueues.size('commuter') === 1, 'one queued message');
  clock.advance(HOUR * 1000 - 10);

  const back = await persistent(t, mqttUrl, 'commuter');
  t.equal(back.sessionPresent, true, 'the session is still there');
  t.equal(broker.sessionExpiry.pending, 0, 'and its timer is cancelled');
  await waitFor(() => back.received.includes('news/a'), 'the queued message');
  clock.advance(HOUR * 1000);
  await back.c.endAsync();
  await waitFor(() => broker.sessionExpiry.pending === 1, 'a new expiry timer');
  clock.advance(HOUR * 1000 - 1);
  const again = await persistent(t, mqttUrl, 'commuter');
  t.equal(again.sessionPresent, true, 'the hour counts from the last disconnect');
});

t.test('off by default; clean sessions never get a timer; the setting is validated', async (t) => {
  const clock = new ManualClock();
  const { server, mqttUrl } = await serve(t, {}, { scheduler: clock });
  const s = await persistent(t, mqttUrl, 'forever');
  await s.c.subscribeAsync('news/#', { qos: 1 });
  await s.c.endAsync();
  const c = await client(t, mqttUrl, { clientId: 'clean-one' });
  await c.endAsync();
  t.equal(clock.pending().length, 0, 'no timer without an expiry');
  t.equal(server.broker.sessionExpiry.pending, 0);
  t.equal(resolveServeConfig({ persistentSessionExpiry: 86_400 }).persistentSessionExpiry, 86_400);
  t.throws(() => resolveServeConfig({ persistentSessionExpiry: -1 }), /persistentSessionExpiry/);
  t.throws(() => resolveServeConfig({ persistentSessionExpiry: 1.5 }), /persistentSessionExpiry/);

  const clock2 = new ManualClock();
  const other = await serve(t, { persistentSessionExpiry: 60 }, { scheduler: clock2 });
  const cl = await client(t, other.mqttUrl, { clientId: 'clean-two' });
  await cl.endAsync();
  t.equal(clock2.pending().length, 0, 'a clean session ends with its connection: no timer');
});

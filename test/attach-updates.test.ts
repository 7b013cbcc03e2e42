/**
 * Attach mode: an accepted update stays retained on the announcement topic in place of the birth, so
 * a bridge that restarts sees the latest data, announces nothing for an update it already published,
 * and announces an update made while it was down.
 */
import t from 'tap';
import { device } from './fixtures/announce.js';
import { attach } from './fixtures/bridge.js';
import { mosquitto } from './fixtures/mosquitto.js';
import { client, Inbox, subscribe } from './fixtures/mqtt.js';

t.test('attach: the retained update replaces the birth; a restarted bridge resyncs to the latest data', async (t) => {
  const broker = await mosquitto(t);
  if (!broker) return;
  const events = new Inbox(await client(t, broker.url, { ...broker.as('watcher'), clientId: 'watcher-u' }));
  await subscribe(events.client, ['presence/user/+', 'presence/group/+']);
  const first = await attach(t, broker);
  const alice = await device(t, broker.url, broker.as('alice'), 'alice-1', { v: 1 });
  await alice.join('lobby');
  await events.find((m) => m.topic === 'presence/group/lobby' && m.json.action === 'join', 'alice joins lobby');
  const update = (data: unknown) => alice.client.publishAsync(alice.topic, JSON.stringify({ action: 'update', data, epoch: alice.epoch }), { qos: 1, retain: true });
  await update({ v: 2 });
  t.match((await events.find((m) => m.topic === 'presence/user/alice', 'the update')).json, { action: 'update', data: { v: 2 } });

  // The broker holds the update as the connection's announcement.
  const spy = new Inbox(await client(t, broker.url, { ...broker.as('bridge'), clientId: 'spy-u' }));
  await subscribe(spy.client, alice.topic);
  t.match((await spy.next('the retained announcement')).json, { action: 'update', data: { v: 2 }, epoch: alice.epoch });
  await spy.client.endAsync();

  // A restart that missed nothing announces nothing; one that missed an update announces it.
  await first.running.close();
  await update({ v: 3 });
  const second = await attach(t, broker);
  const user = await events.find((m) => m.topic === 'presence/user/alice', 'the update made while the bridge was down');
  t.match(user.json, { action: 'update', data: { v: 3 } });
  t.match((await events.next('its group event')).json, { action: 'update', groupId: 'lobby', groupOnlineCount: 1, data: { v: 3 } });
  t.same((await second.running.tracker.user('alice'))?.data, { v: 3 });
  await second.running.close();
  const third = await attach(t, broker);
  await alice.end();
  const next = await events.find((m) => m.topic === 'presence/user/alice', 'alice offline');
  t.match(next.json, { action: 'offline', data: { v: 3 } }, 'the restart repeated nothing; the offline carries the latest data');
  t.same((await third.running.tracker.user('alice'))?.data, { v: 3 });
});

import t from 'tap';
import { device, reconnectingDevice } from './fixtures/announce.js';
import { attach } from './fixtures/bridge.js';
import { ManualClock } from './fixtures/clock.js';
import { mosquitto } from './fixtures/mosquitto.js';
import { client, Inbox, once, subscribe } from './fixtures/mqtt.js';
import { waitFor } from './fixtures/raw-sessions.js';

t.test('after a broker crash, a restored birth that is not renewed within the rebirth window goes offline (broker_restart)', async (t) => {
  const broker = await mosquitto(t);
  if (!broker) return;
  const clock = new ManualClock();
  const { running, httpUrl } = await attach(t, broker, {}, { scheduler: clock });
  const { bridge, tracker } = running;

  // alice dies with the broker and never comes back; bob reconnects by himself with a new birth
  await device(t, broker.url, broker.as('alice'), 'alice-1');
  const bob = reconnectingDevice(t, broker, 'bob', 'bob-1');
  await once(bob, 'announced', 'bob announced');
  await waitFor(async () => (await tracker.user('bob'))?.online === true && (await tracker.user('alice'))?.online === true, 'both online');
  await bob.publishAsync('presence/member/lobby/bob', JSON.stringify({ action: 'join' }), { qos: 1, retain: true });
  await waitFor(async () => (await tracker.user('bob'))?.groups.includes('lobby') === true, 'bob in lobby');
  await broker.save(); // the births reach Mosquitto's store, as its autosave would do
  // Mosquitto republishes its uptime every sys_interval (2 s): once the bridge has seen it move on, a
  // restarted broker's is seen going back
  await waitFor(() => (bridge.rebirth.uptimeMs ?? 0) >= 2000, 'the bridge to see the broker up for 2 s');

  const resynced = once(bridge, 'synced', 'the bridge to resync after the crash');
  const bobBack = once(bob, 'announced', 'bob announced again');
  await broker.crash(); // SIGKILL: no wills, and the store restores alice's birth
  await resynced;
  await bobBack;
  await waitFor(() => clock.pending().includes(30_000), 'the rebirth window (30 s by default) to start');
  await tracker.settled();
  t.match(await tracker.user('alice'), { online: true }, 'still online within the window');

  clock.advance(30_000);
  await tracker.settled();
  await running.bridge.drained();
  t.equal((await tracker.user('alice'))?.online ?? false, false, 'alice is offline (and, with no groups, forgotten)');
  t.match(await tracker.user('bob'), { online: true, connections: 1, groups: ['lobby'] }, 'bob came back: no event');
  const api = (await (await fetch(`${httpUrl}/v1/users?ids=alice,bob`)).json()) as { users: { id: string; online: boolean }[] };
  t.same(api.users.map((u) => [u.id, u.online]), [['alice', false], ['bob', true]]);

  const after = new Inbox(await client(t, broker.url, { ...broker.as('watcher'), clientId: 'watcher-after' }));
  await subscribe(after.client, ['presence/user/+']);
  const alice = await after.find((m) => m.topic === 'presence/user/alice', 'alice retained');
  t.match(alice.json, { action: 'offline', reason: 'broker_restart' });
  const bobRecord = await after.find((m) => m.topic === 'presence/user/bob', 'bob retained');
  t.match(bobRecord.json, { action: 'online' });
  // the restored birth is cleared, so the next resync finds no ghost
  const spy = new Inbox(await client(t, broker.url, { ...broker.as('bridge'), clientId: 'spy' }));
  await subscribe(spy.client, ['presence/conn/#', 'presence/bridge/presence-bridge/sync']);
  await spy.client.publishAsync('presence/bridge/presence-bridge/sync', 'end');
  await spy.find((m) => m.topic.endsWith('/sync'), 'the end marker');
  t.same(spy.all.filter((m) => m.topic === 'presence/conn/alice/alice-1' && m.payload.length > 0), [], "alice's birth is gone");
});

t.test('a link break without a broker restart ends nobody', async (t) => {
  const broker = await mosquitto(t);
  if (!broker) return;
  const clock = new ManualClock();
  const { running } = await attach(t, broker, {}, { scheduler: clock });
  await device(t, broker.url, broker.as('alice'), 'alice-1');
  await waitFor(async () => (await running.tracker.user('alice'))?.online === true, 'alice online');
  const resynced = once(running.bridge, 'synced', 'the bridge to resync after its link broke');
  (running.bridge as unknown as { client: { stream: { destroy(): void } } }).client.stream.destroy();
  await resynced;
  t.equal(clock.pending().length, 0, 'no rebirth window: the broker did not restart');
  t.match(await running.tracker.user('alice'), { online: true });
});

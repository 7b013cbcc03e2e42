import t from 'tap';
import { device, reconnectingDevice } from './fixtures/announce.js';
import { attach } from './fixtures/bridge.js';
import { mosquitto } from './fixtures/mosquitto.js';
import { client, Inbox, once, subscribe, WAIT_MS } from './fixtures/mqtt.js';

t.test('Mosquitto restarted: the bridge reconnects, resyncs and keeps tracking', async (t) => {
  const broker = await mosquitto(t);
  if (!broker) return;
  const { running } = await attach(t, broker);
  const { bridge, tracker } = running;
  const events = new Inbox(await client(t, broker.url, { ...broker.as('watcher'), clientId: 'watcher-1' }));
  await subscribe(events.client, ['presence/user/+', 'presence/group/+']);

  const alice = reconnectingDevice(t, broker, 'alice', 'alice-1');
  await new Promise<void>((resolve) => alice.once('announced' as 'end', () => resolve()));
  await alice.publishAsync('presence/member/lobby/alice', JSON.stringify({ action: 'join' }), { qos: 1, retain: true });
  const bob = await device(t, broker.url, broker.as('bob'), 'bob-1');
  await bob.join('lobby');
  await events.find((m) => m.json.id === 'bob' && m.json.action === 'join', 'bob joins');

  const down = once(bridge, 'connection', 'the bridge to notice the broker went away');
  const aliceBack = new Promise((resolve) => alice.once('reconnect', () => alice.once('announced' as 'end', () => resolve(undefined))));
  await broker.restart();
  await down;
  t.equal(bridge.synced, false, 'not synced while the broker is away');
  await once(bridge, 'synced', 'the bridge to resync after the restart');
  t.equal(bridge.syncs, 2);
  await aliceBack;
  // Mosquitto publishes every client's will as it shuts down, so both went offline; the retained
  // memberships survived in its store; alice came back by herself, bob did not
  const after = new Inbox(await client(t, broker.url, { ...broker.as('watcher'), clientId: 'watcher-2' }));
  await subscribe(after.client, ['presence/user/+', 'presence/group/+', 'presence/bridge/+']);
  const status = await after.find((m) => m.topic === 'presence/bridge/presence-bridge', 'the bridge status');
  t.same(status.json, { status: 'online' });
  const carol = await device(t, broker.url, broker.as('carol'), 'carol-1');
  await carol.join('lobby');
  const live = async (label: string) => {
    // alice's return may be announced live or within the resync, so only carol's events are read here
    const m = await after.find((m) => !m.retain && m.json.id === 'carol', label);
    return m.topic.startsWith('presence/user/') ? `${m.json.id} ${m.json.action}` : `${m.json.groupId} ${m.json.id} ${m.json.action} ${m.json.groupOnlineCount}`;
  };
  t.equal(await live('carol online'), 'carol online');
  t.equal(await live('carol joins'), 'lobby carol join 2', 'alice counts as online in lobby, bob does not');
  await tracker.settled();
  t.match(await tracker.user('alice'), { online: true, connections: 1, groups: ['lobby'] });
  t.match(await tracker.user('bob'), { online: false, connections: 0, groups: ['lobby'] });
  t.same(await tracker.groupOnlineCounts(['lobby']), new Map([['lobby', 2]]));
  const bobRecord = after.all.find((m) => m.topic === 'presence/user/bob');
  t.match(bobRecord, { retain: true, json: { action: 'offline', id: 'bob' } }, "bob's will at the shutdown took him offline");
});

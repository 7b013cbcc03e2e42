import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { CLI } from './fixtures/process.js';
import t, { type Test } from 'tap';
import { device } from './fixtures/announce.js';
import { link } from './fixtures/link.js';
import { attach } from './fixtures/bridge.js';
import { ManualClock } from './fixtures/clock.js';
import { mosquitto, type TestMosquitto } from './fixtures/mosquitto.js';
import { client, Inbox, once, subscribe, type Received } from './fixtures/mqtt.js';

const describe = (m: Received) =>
  m.topic.startsWith('presence/user/')
    ? `${m.json.id} ${m.json.action}`
    : m.topic.startsWith('presence/group/')
      ? `${m.json.groupId} ${m.json.id} ${m.json.action} ${m.json.groupOnlineCount}`
      : `bridge ${m.json.status}`;

async function watch(t: Test, broker: TestMosquitto, topics = ['presence/user/+', 'presence/group/+']): Promise<Inbox> {
  const inbox = new Inbox(await client(t, broker.url, { ...broker.as('watcher'), clientId: `watcher-${randomUUID().slice(0, 8)}` }));
  await subscribe(inbox.client, topics);
  return inbox;
}

t.test('a stale will replayed after a reconnect is ignored, and the live birth stays retained', async (t) => {
  const broker = await mosquitto(t);
  if (!broker) return;
  // Mosquitto publishes the old connection's will at a takeover, before the new birth; the takeover
  // window keeps that from being an offline/online pair (docs/attach.md). A grace window on top, as
  // some deployments run, must not change how stale announcements are handled.
  // The grace holds (and takeover windows) run on the test's clock: the window is crossed by moving it.
  const clock = new ManualClock();
  const { running } = await attach(t, broker, { graceMs: 1500 }, { scheduler: clock });
  const events = await watch(t, broker);
  const first = await device(t, broker.url, broker.as('alice'), 'alice-1');
  t.equal(describe(await events.next('alice online')), 'alice online');
  // the same client id connects again with a new epoch (a network break, then a reconnect)
  const second = await device(t, broker.url, broker.as('alice'), 'alice-1');
  t.not(second.epoch, first.epoch);
  // the first connection's will, replayed late
  await second.client.publishAsync(first.topic, first.offlinePayload, { qos: 1, retain: true });
  await running.tracker.settled();
  const spy = new Inbox(await client(t, broker.url, { ...broker.as('bridge'), clientId: 'spy' }));
  await subscribe(spy.client, 'presence/conn/alice/alice-1');
  // the bridge put the live birth back over the stale offline
  const retained = await spy.find((m) => m.json.action === 'online', 'the restored birth');
  t.equal(retained.json.epoch, second.epoch);
  t.match(await running.tracker.user('alice'), { online: true, connections: 1 });
  // the first connection's birth, replayed late: its epoch has ended, so it is stale too
  await second.client.publishAsync(first.topic, JSON.stringify({ action: 'online', data: {}, epoch: first.epoch }), { qos: 1, retain: true });
  await spy.find((m) => m.json.epoch === first.epoch, 'the replayed birth');
  t.equal((await spy.next('the live birth restored again')).json.epoch, second.epoch);
  t.match(await running.tracker.user('alice'), { online: true, connections: 1 });
  await second.end();
  await clock.scheduled.find((ms) => ms === 1500, 'the real offline to be held for the grace window');
  clock.fire(1500);
  t.equal(describe(await events.next('alice offline')), 'alice offline', 'no offline/online pair before the real end');
  t.same(events.unread(), []);
});

/**
 * The CLI in a child process, so it can be killed for real. Resolves when it is synced. The built CLI
 * (dist/, as serve-cli's tests run it): from the TypeScript sources it takes over 10 s to start on a
 * loaded machine, longer than any wait here.
 */
async function bridgeProcess(t: Test, broker: TestMosquitto, status: Inbox) {
  const child = spawn(
    process.execPath,
    [CLI, 'attach', '--broker', broker.url,
      '--username', 'bridge', '--http-port', '0', '--reconnect-ms', '100', '--log-level', 'warn'],
    { env: { ...process.env, PRESENCE_BRIDGE_PASSWORD: broker.as('bridge').password }, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  await status.find((m) => m.topic === 'presence/bridge/presence-bridge' && m.json.status === 'online', 'the bridge online');
  return child;
}

t.test('bridge killed and restarted while users come and go: the truth, and only the real differences', async (t) => {
  const broker = await mosquitto(t);
  if (!broker) return;
  const events = await watch(t, broker, ['presence/user/+', 'presence/group/+', 'presence/bridge/+']);
  let bridge = await bridgeProcess(t, broker, events);

  const alice = await device(t, broker.url, broker.as('alice'), 'alice-1');
  const bob = await device(t, broker.url, broker.as('bob'), 'bob-1');
  const carol = await device(t, broker.url, broker.as('carol'), 'carol-1');
  const erin = await device(t, broker.url, broker.as('erin'), 'erin-1');
  for (const d of [alice, bob, erin]) await d.join('lobby');
  await carol.end();
  await erin.end();
  await events.find((m) => describe(m) === 'lobby erin offline 2', 'the starting state to be published');

  bridge.kill('SIGKILL');
  await once(bridge, 'exit', 'the bridge to die');
  t.equal(describe(await events.next('the bridge will')), 'bridge offline');

  // while nobody watches: bob's device dies, dave arrives and joins, erin leaves the group
  bob.kill();
  const dave = await device(t, broker.url, broker.as('dave'), 'dave-1');
  await dave.join('lobby');
  const erinAgain = await client(t, broker.url, { ...broker.as('erin'), clientId: 'erin-2' });
  await erinAgain.publishAsync('presence/member/lobby/erin', '', { qos: 1, retain: true });
  // bob's will has fired once the broker accepts his client id again
  const bobProbe = await client(t, broker.url, { ...broker.as('bob'), clientId: 'bob-1' });
  await bobProbe.endAsync();

  bridge = await bridgeProcess(t, broker, events);
  const seen = events.all.slice(events.all.findIndex((m) => describe(m) === 'bridge offline') + 1).map(describe);
  t.same(seen, ['bob offline', 'lobby bob offline 1', 'dave online', 'lobby dave online 2', 'bridge online'],
    'a vanished user goes offline, an arrived one online; alice, carol and erin were not repeated');
  const bobOffline = events.all.filter((m) => m.topic === 'presence/user/bob').at(-1)!;
  t.equal(bobOffline.json.reason, 'vanished');

  // the restarted bridge holds the truth: alice online in lobby, erin no longer a member
  await erinAgain.publishAsync('presence/member/lobby/erin', JSON.stringify({ action: 'join' }), { qos: 1, retain: true });
  t.equal(describe(await events.next('erin joins again')), 'lobby erin join 2');
  await alice.end();
  t.equal(describe(await events.next('alice offline')), 'alice offline');
  t.equal(describe(await events.next('alice offline in lobby')), 'lobby alice offline 1');

  // the processed offline records are gone from the broker's retained store
  const spy = new Inbox(await client(t, broker.url, { ...broker.as('bridge'), clientId: 'spy' }));
  await subscribe(spy.client, ['presence/conn/#', 'presence/bridge/+']);
  await spy.find((m) => m.topic === 'presence/bridge/presence-bridge', 'the retained bridge status');
  t.same(spy.all.filter((m) => m.topic.startsWith('presence/conn/')).map((m) => `${m.topic} ${m.json.action}`), [
    'presence/conn/dave/dave-1 online',
  ]);
  bridge.kill('SIGTERM');
  await once(bridge, 'exit', 'the bridge to stop');
  t.equal(bridge.exitCode, 0);
});

t.test("the bridge's link breaks while users change: on reconnect it announces exactly what changed", async (t) => {
  const broker = await mosquitto(t);
  if (!broker) return;
  const relay = await link(t, broker.url);
  const { running, httpUrl } = await attach(t, broker, { broker: relay.url });
  const { bridge, tracker } = running;
  const events = await watch(t, broker, ['presence/user/+', 'presence/group/+', 'presence/bridge/+']);
  await events.find((m) => describe(m) === 'bridge online', 'the retained bridge status');

  const alice = await device(t, broker.url, broker.as('alice'), 'alice-1');
  const bob = await device(t, broker.url, broker.as('bob'), 'bob-1');
  await alice.join('lobby');
  await bob.join('lobby');
  await events.find((m) => describe(m) === 'lobby bob join 2', 'the starting state');

  // every event acknowledged, so none is resent (QoS 1 is at least once) after the break
  await tracker.settled();
  await bridge.publisher.drained();
  const lost = once(bridge, 'connection', 'the bridge to lose its link');
  relay.cut();
  await lost;
  t.equal(describe(await events.next('the bridge will')), 'bridge offline');
  const health = await fetch(`${httpUrl}/healthz`);
  t.equal(health.status, 503, 'unhealthy while presence is not maintained');
  t.match(await health.json(), { status: 'unavailable', mode: 'attach', broker: 'disconnected', synced: false });
  await alice.leave('lobby');
  await alice.join('kitchen');
  await bob.end();
  await device(t, broker.url, broker.as('carol'), 'carol-1');
  const synced = once(bridge, 'synced', 'the bridge to resync');
  relay.restore();
  await synced;
  await events.find((m) => describe(m) === 'bridge online', 'the bridge back online');
  const seen = events.all.slice(events.all.findIndex((m) => describe(m) === 'bridge offline') + 1).map(describe);
  t.same(seen, [
    'lobby alice leave 1',
    'kitchen alice join 1',
    'bob offline',
    'lobby bob offline 0',
    'carol online',
    'bridge online',
  ]);
  t.match(await tracker.user('alice'), { online: true, groups: ['kitchen'] });
  t.match(await tracker.user('bob'), { online: false, connections: 0, groups: ['lobby'] });
  // live again: the next change is announced as it happens
  await alice.end();
  t.equal(describe(await events.next('alice offline')), 'alice offline');
  t.equal(describe(await events.next('alice offline in kitchen')), 'kitchen alice offline 0');
});

t.test('a resync reads every retained announcement, past the broker queue limit (1000 on Mosquitto)', async (t) => {
  const broker = await mosquitto(t);
  if (!broker) return;
  const users = 1500;
  // what a previous bridge left behind: users online with live births, their online published
  const admin = await client(t, broker.url, { ...broker.as('bridge'), clientId: 'admin' });
  for (let i = 0; i < users; i++) {
    const id = `u${i}`;
    admin.publish(`presence/conn/${id}/${id}-c`, JSON.stringify({ action: 'online', epoch: `e${i}` }), { qos: 1, retain: true });
    admin.publish(`presence/user/${id}`, JSON.stringify({ time: 1, action: 'online', id, data: {}, seq: 10 }), { qos: 1, retain: true });
  }
  await admin.publishAsync('presence/member/lobby/u0', JSON.stringify({ action: 'join' }), { qos: 1, retain: true });
  const { running } = await attach(t, broker);
  await running.tracker.settled();
  t.match(await running.tracker.stats(), { onlineUsers: users, connections: users, memberships: 1 });
  t.equal(running.bridge.publisher.published, 0, 'no event: everyone was already published online');
  t.same(await running.tracker.groupOnlineCounts(['lobby']), new Map([['lobby', 1]]));
});

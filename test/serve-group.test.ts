import mqttPacket, { type Packet } from 'mqtt-packet';
import t from 'tap';
import { client, subscribe, watcher, type Inbox, type Received } from './fixtures/mqtt.js';
import { RawClient } from './fixtures/raw.js';
import { serve } from './fixtures/server.js';

const brief = (m: Received) =>
  m.topic.startsWith('presence/group/')
    ? `${m.json.groupId}:${m.json.action}:${m.json.id}:${m.json.groupOnlineCount}`
    : `user:${m.json.action}:${m.json.id}`;

async function take(watch: Inbox, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(brief(await watch.next(`event ${i + 1} of ${n}`)));
  return out;
}

t.test('join, clean-session disconnect is offline not leave, return is online not join, unsubscribe is leave', async (t) => {
  const { mqttUrl } = await serve(t);
  const watch = await watcher(t, mqttUrl);
  const alice = await client(t, mqttUrl, { clientId: 'alice-1', username: 'alice', clean: true });
  await subscribe(alice, 'group/lobby');
  t.same(await take(watch, 2), ['user:online:alice', 'lobby:join:alice:1']);

  const bob = await client(t, mqttUrl, { clientId: 'bob-1', username: 'bob' });
  await subscribe(bob, 'group/lobby/chat');
  t.same(await take(watch, 2), ['user:online:bob', 'lobby:join:bob:2'], 'a topic below group/G is membership too');

  await alice.endAsync();
  t.same(await take(watch, 2), ['user:offline:alice', 'lobby:offline:alice:1'], 'a clean session ending is not a leave');

  const again = await client(t, mqttUrl, { clientId: 'alice-2', username: 'alice', clean: true });
  t.same(await take(watch, 2), ['user:online:alice', 'lobby:online:alice:2'], 'back online in her groups without subscribing');
  await subscribe(again, 'group/lobby');
  await again.unsubscribeAsync('group/lobby');
  t.same(await take(watch, 1), ['lobby:leave:alice:1'], 'resubscribing is no second join; UNSUBSCRIBE is a leave');

  await again.endAsync();
  t.same(await take(watch, 1), ['user:offline:alice'], 'a user who left gets no more group events');
  await bob.endAsync();
  t.same(await take(watch, 2), ['user:offline:bob', 'lobby:offline:bob:0']);
  t.same(watch.unread(), []);
});

t.test('membership belongs to the user: one device unsubscribing is a leave only when it holds nothing else there', async (t) => {
  const { mqttUrl } = await serve(t);
  const watch = await watcher(t, mqttUrl);
  const phone = await client(t, mqttUrl, { clientId: 'carol-phone', username: 'carol' });
  await subscribe(phone, ['group/g/a', 'group/g/b']);
  t.same(await take(watch, 2), ['user:online:carol', 'g:join:carol:1']);
  await phone.unsubscribeAsync('group/g/a');
  const laptop = await client(t, mqttUrl, { clientId: 'carol-laptop', username: 'carol' });
  await laptop.endAsync();
  await phone.unsubscribeAsync('group/g/b');
  t.same(await take(watch, 1), ['g:leave:carol:0'], 'the leave comes with the last subscription in g');
});

t.test('wildcards at the group-id level are not memberships', async (t) => {
  const { mqttUrl } = await serve(t);
  const watch = await watcher(t, mqttUrl);
  const dave = await client(t, mqttUrl, { clientId: 'dave-1', username: 'dave' });
  await watch.next('dave online');
  t.same(await subscribe(dave, ['group/+', 'group/#', 'group/+/chat', 'group/$sys', 'groupies/x']), [1, 1, 1, 1, 1]);
  await subscribe(dave, 'group/real/+');
  t.same(await take(watch, 1), ['real:join:dave:1'], 'only group/real counted');
  await dave.unsubscribeAsync(['group/+', 'group/#']);
  await dave.endAsync();
  t.same(await take(watch, 2), ['user:offline:dave', 'real:offline:dave:0']);
});

t.test('groupOnlineCount is exact after every event', async (t) => {
  const { mqttUrl } = await serve(t);
  const watch = await watcher(t, mqttUrl, ['presence/group/+']);
  const members = [];
  for (let i = 1; i <= 4; i++) {
    const c = await client(t, mqttUrl, { clientId: `m${i}`, username: `m${i}` });
    await subscribe(c, 'group/count');
    t.same(await take(watch, 1), [`count:join:m${i}:${i}`]);
    members.push(c);
  }
  members[0]!.stream.destroy();
  t.same(await take(watch, 1), ['count:offline:m1:3']);
  await members[1]!.unsubscribeAsync('group/count');
  t.same(await take(watch, 1), ['count:leave:m2:2']);
  await members[1]!.endAsync();
  await client(t, mqttUrl, { clientId: 'm1b', username: 'm1' });
  t.same(await take(watch, 1), ['count:online:m1:3']);
  t.same(watch.unread(), [], 'm2 left, so its offline is no group event');
});

t.test('a watcher of users and groups gets every event of a change, in order', async (t) => {
  const { mqttUrl } = await serve(t);
  const watch = await watcher(t, mqttUrl);
  const groups = Array.from({ length: 8 }, (_, i) => `group/g${i}`);
  const c = await client(t, mqttUrl, { clientId: 'erin-1', username: 'erin' });
  await subscribe(c, groups);
  const joined = await take(watch, 9);
  t.equal(joined[0], 'user:online:erin');
  t.same(joined.slice(1).sort(), groups.map((g) => `${g.slice(6)}:join:erin:1`).sort());
  for (let round = 0; round < 5; round++) {
    c.stream.destroy();
    // Each loss: the retained user event first, then the eight group events; none lost or reordered.
    const down = await take(watch, 9);
    t.equal(down[0], 'user:offline:erin', `round ${round}: user event first`);
    t.same(down.slice(1).sort(), groups.map((g) => `${g.slice(6)}:offline:erin:0`).sort());
    await c.reconnect();
    const up = await take(watch, 9);
    t.equal(up[0], 'user:online:erin');
    t.same(up.slice(1).sort(), groups.map((g) => `${g.slice(6)}:online:erin:1`).sort());
  }
});

t.test('a persistent session that reconnects is online again in its groups', async (t) => {
  const { mqttUrl } = await serve(t);
  const watch = await watcher(t, mqttUrl);
  const first = await client(t, mqttUrl, { clientId: 'frank-1', username: 'frank', clean: false });
  await subscribe(first, 'group/durable');
  t.same(await take(watch, 2), ['user:online:frank', 'durable:join:frank:1']);
  first.stream.destroy();
  t.same(await take(watch, 2), ['user:offline:frank', 'durable:offline:frank:0']);
  const second = await client(t, mqttUrl, { clientId: 'frank-1', username: 'frank', clean: false });
  t.equal(second.connected, true);
  t.same(await take(watch, 2), ['user:online:frank', 'durable:online:frank:1']);
  t.same(watch.unread(), [], 'no second join for the restored subscription');
});

t.test('membership announcements join and leave in serve mode too, only for oneself', async (t) => {
  const { mqttUrl } = await serve(t);
  const watch = await watcher(t, mqttUrl);
  const gina = await client(t, mqttUrl, { clientId: 'gina-1', username: 'gina' });
  await watch.next('gina online');
  await gina.publishAsync('presence/member/team/gina', '{"action":"join"}', { qos: 1, retain: true });
  t.same(await take(watch, 1), ['team:join:gina:1']);
  await gina.publishAsync('presence/member/team/gina', '{"action":"join"}', { qos: 1, retain: true });
  await gina.publishAsync('presence/member/team/hank', '{"action":"join"}', { qos: 1, retain: true });
  await gina.publishAsync('presence/member/team/gina', '', { qos: 1, retain: true });
  t.same(await take(watch, 1), ['team:leave:gina:0'], 'idempotent join, spoofed join refused, empty payload leaves');
});

// The cluster keeps such an UNSUBSCRIBE when aedes finishes it after the close (unsubscribe-intents.ts,
// test/slow/cluster-outage.test.ts); in memory mode aedes finishes it first: the same rule holds.
for (const clean of [true, false]) {
  t.test(`an UNSUBSCRIBE right before DISCONNECT, in one write, is a leave (clean=${clean})`, async (t) => {
    const server = await serve(t);
    const watch = await watcher(t, server.mqttUrl, ['presence/group/+']);
    const other = await client(t, server.mqttUrl, { clientId: 'o-1', username: 'o' });
    await subscribe(other, 'group/x');
    t.match((await watch.next("o's join")).json, { id: 'o', action: 'join' });
    const raw = await RawClient.open(t, server.server.mqttPort);
    t.equal(await raw.connect({ clientId: 'eve-1', username: 'eve', clean }), 0);
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'group/x', qos: 1 }] });
    await raw.waitFor((p) => p.cmd === 'suback', "eve's SUBACK");
    t.match((await watch.next("eve's join")).json, { id: 'eve', action: 'join', groupOnlineCount: 2 });
    const packets: Packet[] = [{ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['group/x'] }, { cmd: 'disconnect' }];
    raw.socket.write(Buffer.concat(packets.map((p) => mqttPacket.generate(p))));
    t.match((await watch.next("eve's leave")).json, { id: 'eve', action: 'leave', groupOnlineCount: 1 });
    await subscribe(other, 'group/y');
    t.match((await watch.next('a marker')).json, { id: 'o', groupId: 'y', action: 'join' }, 'nothing else: no offline of eve in x');
  });
}

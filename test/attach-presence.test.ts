import t from 'tap';
import { device } from './fixtures/announce.js';
import { attach } from './fixtures/bridge.js';
import { mosquitto } from './fixtures/mosquitto.js';
import { client, Inbox, subscribe } from './fixtures/mqtt.js';

t.test('multi-device: online on the first birth, offline on the last end; data from the birth', async (t) => {
  const broker = await mosquitto(t);
  if (!broker) return;
  const { running } = await attach(t, broker);
  const watch = new Inbox(await client(t, broker.url, { ...broker.as('watcher'), clientId: 'watcher-1' }));
  await subscribe(watch.client, ['presence/user/+', 'presence/group/+']);

  const phone = await device(t, broker.url, broker.as('alice'), 'alice-phone', { name: 'Alice' });
  const online = await watch.next('alice online');
  t.equal(online.topic, 'presence/user/alice');
  t.match(online.json, { action: 'online', id: 'alice', data: { name: 'Alice' } });
  t.type(online.json.seq, 'number');
  t.type(online.json.time, 'number');

  // a browser's connection: MQTT over the project's WebSocket listener
  const laptop = await device(t, broker.wsUrl, broker.as('alice'), 'alice-laptop', { name: 'Alice' });
  // the bridge handles messages in order: once a later announcement shows, the ones before are in
  await laptop.join('devices');
  t.match((await watch.next('alice joins devices')).json, { groupId: 'devices', action: 'join', groupOnlineCount: 1 });
  t.match(await running.tracker.user('alice'), { online: true, connections: 2 }, 'both devices are tracked');
  await phone.end();
  await laptop.leave('devices');
  t.match((await watch.next('alice leaves devices')).json, { groupId: 'devices', action: 'leave' }, 'the phone leaving was no offline');
  t.match(await running.tracker.user('alice'), { online: true, connections: 1 });
  await laptop.end();
  const offline = await watch.next('alice offline');
  t.match(offline.json, { action: 'offline', id: 'alice', reason: 'announced', data: { name: 'Alice' } });
  t.ok((offline.json.seq as number) > (online.json.seq as number), 'seq increases');

  // the retained user event is the current state for a late subscriber
  const late = new Inbox(await client(t, broker.url, { ...broker.as('watcher'), clientId: 'watcher-late' }));
  await subscribe(late.client, 'presence/user/alice');
  const retained = await late.next('the retained alice event');
  t.equal(retained.retain, true);
  t.match(retained.json, { action: 'offline', id: 'alice', seq: offline.json.seq });
  t.same(watch.unread(), [], 'nothing else was published');
});

t.test('groups: join, online/offline to members with counts, leave; a killed device goes offline by its will', async (t) => {
  const broker = await mosquitto(t);
  if (!broker) return;
  const { running } = await attach(t, broker);
  const watch = new Inbox(await client(t, broker.url, { ...broker.as('watcher'), clientId: 'watcher-1' }));
  await subscribe(watch.client, ['presence/user/+', 'presence/group/+']);
  const summary = async (label: string) => {
    const m = await watch.next(label);
    const j = m.json;
    return m.topic.startsWith('presence/user/') ? `${j.id} ${j.action}` : `${j.groupId} ${j.id} ${j.action} ${j.groupOnlineCount}`;
  };

  const alice = await device(t, broker.url, broker.as('alice'), 'alice-1');
  t.equal(await summary('alice online'), 'alice online');
  await alice.join('lobby');
  t.equal(await summary('alice joins'), 'lobby alice join 1');
  await alice.join('lobby');
  const bob = await device(t, broker.url, broker.as('bob'), 'bob-1');
  t.equal(await summary('bob online'), 'bob online', 'a repeated join announced nothing');
  await bob.join('lobby');
  t.equal(await summary('bob joins'), 'lobby bob join 2');

  bob.kill();
  t.equal(await summary('bob offline'), 'bob offline');
  t.equal(await summary('bob offline in lobby'), 'lobby bob offline 1');
  const offline = watch.all.find((m) => m.topic === 'presence/user/bob' && m.json.action === 'offline')!;
  t.equal(offline.json.reason, 'announced');

  const bob2 = await device(t, broker.url, broker.as('bob'), 'bob-1');
  t.equal(await summary('bob back'), 'bob online');
  t.equal(await summary('bob back in lobby'), 'lobby bob online 2', 'a member coming back is online, not a second join');

  await alice.leave('lobby');
  t.equal(await summary('alice leaves'), 'lobby alice leave 1');
  await alice.end();
  t.equal(await summary('alice offline'), 'alice offline', 'no group event: alice left lobby');
  await bob2.end();
  t.equal(await summary('bob offline'), 'bob offline');
  t.equal(await summary('bob offline in lobby'), 'lobby bob offline 0');
  await running.tracker.settled();
  t.match(await running.tracker.user('bob'), { online: false, groups: ['lobby'] }, 'membership outlives the connection');
  t.same(watch.unread(), []);
});

t.test('processed offlines are cleared from the retained store; the bridge has a retained status', async (t) => {
  const broker = await mosquitto(t);
  if (!broker) return;
  const { running, httpUrl } = await attach(t, broker);
  const health = await (await fetch(`${httpUrl}/healthz`)).json();
  t.match(health, { status: 'ok', mode: 'attach', broker: 'connected', synced: true });

  const status = new Inbox(await client(t, broker.url, { ...broker.as('watcher'), clientId: 'watcher-status' }));
  await subscribe(status.client, ['presence/bridge/+', 'presence/user/+']);
  const first = await status.next('the bridge status');
  t.same(first.json, { status: 'online' });
  t.equal(first.retain, true);

  const alice = await device(t, broker.url, broker.as('alice'), 'alice-1');
  await alice.end();
  // the bridge clears the record as it handles it, so before it publishes the offline
  await status.find((m) => m.json.id === 'alice' && m.json.action === 'offline', 'alice offline');
  // the bridge's account (allowed to read announcements) sees the retained store as a new subscriber would
  const spy = new Inbox(await client(t, broker.url, { ...broker.as('bridge'), clientId: 'spy' }));
  await subscribe(spy.client, ['presence/conn/#', 'presence/user/alice']);
  const retained = await spy.next('the retained alice event');
  t.equal(retained.topic, 'presence/user/alice', 'no retained announcement is left for alice-1');
  t.match(retained.json, { action: 'offline' });

  await running.close();
  const last = await status.find((m) => m.topic.startsWith('presence/bridge/'), 'the bridge going offline');
  t.same(last.json, { status: 'offline' });
});

t.test('invalid announcements are logged and dropped; the bridge carries on', async (t) => {
  const broker = await mosquitto(t);
  if (!broker) return;
  const { running, logs } = await attach(t, broker);
  const watch = new Inbox(await client(t, broker.url, { ...broker.as('watcher'), clientId: 'watcher-1' }));
  await subscribe(watch.client, ['presence/user/+', 'presence/group/+']);
  const mallory = await client(t, broker.url, { ...broker.as('mallory'), clientId: 'm-1' });
  const conn = 'presence/conn/mallory/m-1';
  for (const payload of ['not json', '[]', '{"action":"dance"}', `{"action":"online","data":[1]}`,
    JSON.stringify({ action: 'online', data: { big: 'x'.repeat(2000) } })]) {
    await mallory.publishAsync(conn, payload, { qos: 1, retain: true });
  }
  await mallory.publishAsync('presence/member/lobby/mallory', '{"action":"maybe"}', { qos: 1, retain: true });
  // only an account allowed all of presence/# (like the bridge's) can write a malformed topic
  const admin = await client(t, broker.url, { ...broker.as('bridge'), clientId: 'admin' });
  await admin.publishAsync('presence/conn/mallory/m-1/deeper', JSON.stringify({ action: 'online' }), { qos: 1, retain: true });
  await mallory.publishAsync(conn, JSON.stringify({ action: 'online', data: { ok: true }, epoch: 'e1' }), { qos: 1, retain: true });
  const online = await watch.next('mallory online after the junk');
  t.match(online.json, { id: 'mallory', action: 'online', data: { ok: true } });
  t.equal(logs.filter((l) => l.msg === 'announcement dropped').length, 7, 'each bad announcement was logged');
  t.equal(running.bridge.dropped, 7);
  t.same(watch.unread(), []);
  // and cleared from the retained store, while the valid birth stays
  const spy = new Inbox(await client(t, broker.url, { ...broker.as('bridge'), clientId: 'spy' }));
  await subscribe(spy.client, ['presence/conn/#', 'presence/member/#', 'presence/user/mallory']);
  await spy.find((m) => m.topic === 'presence/user/mallory', 'the retained mallory event');
  t.same(spy.all.map((m) => `${m.topic} ${m.payload.toString()}`), [
    `${conn} {"action":"online","data":{"ok":true},"epoch":"e1"}`,
    `presence/user/mallory ${spy.all.at(-1)!.payload.toString()}`,
  ]);
});

// The bridge republishes a live birth that junk replaced in the retained store (writer.restore), and it
// hears its own copy back like any message. A client reconnecting fast on one client id ends epochs
// faster than that copy returns under load; the copy must still never count as a new connection (bench
// smoke in CI once: one user left online for good, one offline short).
t.test("the bridge's own restored birth, heard back after its epoch and many later ones ended, brings nobody online", async (t) => {
  const broker = await mosquitto(t);
  if (!broker) return;
  const { running } = await attach(t, broker);
  const watch = new Inbox(await client(t, broker.url, { ...broker.as('watcher'), clientId: 'watcher-1' }));
  await subscribe(watch.client, ['presence/user/+']);
  const alice = await client(t, broker.url, { ...broker.as('alice'), clientId: 'a-1' });
  const topic = 'presence/conn/alice/a-1';
  const birth = (epoch: string) => JSON.stringify({ action: 'online', epoch });
  const end = (epoch: string) => JSON.stringify({ action: 'offline', epoch, graceful: true });
  await alice.publishAsync(topic, birth('e0'), { qos: 1, retain: true });
  t.match((await watch.next('alice online')).json, { id: 'alice', action: 'online' });
  // One burst: junk replaces the live birth (the bridge puts e0 back), then e0 ends and ten more
  // epochs come and go, all on their way before the bridge's copy of e0 can reach the broker.
  const burst = ['not json', end('e0')];
  for (let i = 1; i <= 10; i++) burst.push(birth(`e${i}`), end(`e${i}`));
  await Promise.all(burst.map((payload) => alice.publishAsync(topic, payload, { qos: 1, retain: true })));
  const seen: string[] = [];
  while (seen.length < 21) seen.push(String((await watch.next(`alice event ${seen.length + 2}`)).json.action));
  t.same(seen, ['offline', ...Array.from({ length: 10 }, () => ['online', 'offline']).flat()], 'one offline, then one pair per epoch');
  // the bridge published its copy of e0 before these events, so the broker had it before bob's birth
  const bob = await client(t, broker.url, { ...broker.as('bob'), clientId: 'b-1' });
  await bob.publishAsync('presence/conn/bob/b-1', birth('b0'), { qos: 1, retain: true });
  const next = await watch.next('bob online');
  t.match(next.json, { id: 'bob', action: 'online' }, 'nothing about alice before bob online');
  await running.tracker.settled();
  t.match(await running.tracker.user('alice'), { online: false }, 'alice stays offline');
  t.same(watch.unread(), []);
});

t.test("the bridge's own restored membership, heard back after the user left, joins nobody", async (t) => {
  const broker = await mosquitto(t);
  if (!broker) return;
  const { running } = await attach(t, broker);
  const watch = new Inbox(await client(t, broker.url, { ...broker.as('watcher'), clientId: 'watcher-1' }));
  await subscribe(watch.client, ['presence/group/+', 'presence/user/+']);
  const alice = await client(t, broker.url, { ...broker.as('alice'), clientId: 'a-1' });
  const member = 'presence/member/lobby/alice';
  await alice.publishAsync(member, JSON.stringify({ action: 'join' }), { qos: 1, retain: true });
  t.match((await watch.next('alice joins')).json, { action: 'join', id: 'alice' });
  // junk replaces the membership (the bridge puts the join back), and the leave is already on its way
  await Promise.all([
    alice.publishAsync(member, '{"action":"maybe"}', { qos: 1, retain: true }),
    alice.publishAsync(member, '', { qos: 1, retain: true }),
  ]);
  t.match((await watch.next('alice leaves')).json, { action: 'leave', id: 'alice' });
  const bob = await client(t, broker.url, { ...broker.as('bob'), clientId: 'b-1' });
  await bob.publishAsync('presence/conn/bob/b-1', JSON.stringify({ action: 'online', epoch: 'b0' }), { qos: 1, retain: true });
  t.match((await watch.next('bob online')).json, { id: 'bob', action: 'online' }, 'nothing about the lobby before bob online');
  await running.tracker.settled();
  t.same((await running.tracker.user('alice'))?.groups ?? [], [], 'alice is in no group');
  t.same(watch.unread(), []);
  // and the broker no longer retains a membership for her
  const spy = new Inbox(await client(t, broker.url, { ...broker.as('bridge'), clientId: 'spy' }));
  await subscribe(spy.client, [member, 'presence/conn/bob/b-1']);
  const first = await spy.next('a retained message');
  t.equal(first.topic, 'presence/conn/bob/b-1', 'only bob birth is retained');
});

// A copy the bridge restored must never be mistaken for a client's message of the same bytes: the thin
// client's join is byte for byte the bridge's, and births without an epoch are all alike.
t.test("a client's re-join or epoch-less birth made while the bridge's copy is on its way is applied", async (t) => {
  const broker = await mosquitto(t);
  if (!broker) return;
  const { running } = await attach(t, broker);
  const watch = new Inbox(await client(t, broker.url, { ...broker.as('watcher'), clientId: 'watcher-1' }));
  await subscribe(watch.client, ['presence/group/+']);
  const users = new Inbox(await client(t, broker.url, { ...broker.as('watcher'), clientId: 'watcher-2' }));
  await subscribe(users.client, ['presence/user/+']);
  const alice = await client(t, broker.url, { ...broker.as('alice'), clientId: 'a-1' });
  const member = 'presence/member/lobby/alice';
  const join = JSON.stringify({ action: 'join' });
  await alice.publishAsync(member, join, { qos: 1, retain: true });
  t.match((await watch.next('alice joins')).json, { action: 'join', id: 'alice' });
  // junk (the bridge puts the join back), the leave and the re-join, all before that copy comes back
  await Promise.all(['{"action":"maybe"}', '', join].map((payload) => alice.publishAsync(member, payload, { qos: 1, retain: true })));
  t.match((await watch.next('alice leaves')).json, { action: 'leave', id: 'alice' });
  t.match((await watch.next('alice joins again')).json, { action: 'join', id: 'alice' });

  const conn = 'presence/conn/alice/a-1';
  const birth = JSON.stringify({ action: 'online' });
  await alice.publishAsync(conn, birth, { qos: 1, retain: true });
  t.match((await users.next('alice online')).json, { action: 'online', id: 'alice' });
  await Promise.all(['junk', JSON.stringify({ action: 'offline', graceful: true }), birth].map((payload) => alice.publishAsync(conn, payload, { qos: 1, retain: true })));
  t.match((await users.next('alice offline')).json, { action: 'offline', id: 'alice' });
  t.match((await users.next('alice online again')).json, { action: 'online', id: 'alice' });

  const bob = await client(t, broker.url, { ...broker.as('bob'), clientId: 'b-1' });
  await bob.publishAsync('presence/conn/bob/b-1', JSON.stringify({ action: 'online', epoch: 'b0' }), { qos: 1, retain: true });
  t.match((await users.next('bob online')).json, { id: 'bob', action: 'online' }, 'nothing about alice before bob online');
  await running.tracker.settled();
  t.match(await running.tracker.user('alice'), { online: true, groups: ['lobby'] }, 'alice is online and in the lobby');
  // the lobby saw her online, offline, online (group events of a member), nothing more
  t.same(watch.unread().map((m) => m.json.action), ['online', 'offline', 'online']);
  t.same(users.unread(), []);
  // and the broker retains her membership and a birth
  const spy = new Inbox(await client(t, broker.url, { ...broker.as('bridge'), clientId: 'spy' }));
  await subscribe(spy.client, [member, conn]);
  const retained = [await spy.next('the membership'), await spy.next('the birth')];
  t.same(retained.map((m) => [m.topic, (m.json as { action: string }).action]), [[member, 'join'], [conn, 'online']], 'both retained');
});

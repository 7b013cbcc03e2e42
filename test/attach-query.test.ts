import type { MqttClient } from 'mqtt';
import t, { type Test } from 'tap';
import { device } from './fixtures/announce.js';
import { link } from './fixtures/link.js';
import { attach } from './fixtures/bridge.js';
import { mosquitto, type TestMosquitto } from './fixtures/mosquitto.js';
import { client, Inbox, once, subscribe, type Received } from './fixtures/mqtt.js';
import { querier, snapshotProblems } from './fixtures/query.js';

const isEvent = (topic: string, id: string, action: string) => (m: Received) =>
  m.topic === topic && m.json.id === id && m.json.action === action;

/** A watcher of every user and group event, as the `watcher` user (it is no user of presence itself). */
async function watch(t: Test, broker: TestMosquitto): Promise<Inbox> {
  const inbox = new Inbox(await client(t, broker.url, { ...broker.as('watcher'), clientId: `watcher-${Math.random().toString(16).slice(2, 8)}` }));
  await subscribe(inbox.client, ['presence/user/+', 'presence/group/+']);
  return inbox;
}

/** alice online with data in lobby and dev, bob offline but still a member of lobby; returns their last seqs. */
async function population(t: Test, broker: TestMosquitto) {
  const events = await watch(t, broker);
  const alice = await device(t, broker.url, broker.as('alice'), 'alice-phone', { name: 'Alice' });
  await alice.join('lobby');
  await alice.join('dev');
  const bob = await device(t, broker.url, broker.as('bob'), 'bob-laptop');
  await bob.join('lobby');
  await events.find(isEvent('presence/group/dev', 'alice', 'join'), 'alice joins dev');
  await events.find(isEvent('presence/group/lobby', 'bob', 'join'), 'bob joins lobby');
  await bob.end();
  await events.find(isEvent('presence/group/lobby', 'bob', 'offline'), 'bob offline in lobby');
  const last = (id: string) => Math.max(...events.all.filter((m) => m.json.id === id).map((m) => m.json.seq as number));
  // lastSeen: the time of bob's offline, which answers for offline users seen before carry.
  const bobSeen = events.all.find((m) => m.topic === 'presence/user/bob' && m.json.action === 'offline')!.json.time as number;
  return { alice: last('alice'), bob: last('bob'), bobSeen };
}

t.test('attach mode: each method answers over Mosquitto from the bridge\'s state', async (t) => {
  const broker = await mosquitto(t);
  if (!broker) return;
  await attach(t, broker);
  const seq = await population(t, broker);
  const q = await querier(t, broker.url, { ...broker.as('carol'), clientId: 'carol-asker' });

  t.same(await q.result('hereNow', { userIds: ['alice', 'bob', 'dave'] }), {
    users: [
      { id: 'alice', online: true, data: { name: 'Alice' }, seq: seq.alice },
      { id: 'bob', online: false, data: {}, seq: seq.bob, lastSeen: seq.bobSeen },
      { id: 'dave', online: false, data: {}, seq: 0 },
    ],
  }, 'online with data, offline member, unknown user');
  t.same(await q.result('groupHereNow', { groupId: 'lobby' }), {
    groupId: 'lobby', total: 2, onlineCount: 1, offset: 0, limit: 100,
    members: [
      { id: 'alice', online: true, data: { name: 'Alice' }, seq: seq.alice },
      { id: 'bob', online: false, data: {}, seq: seq.bob, lastSeen: seq.bobSeen },
    ],
  }, 'online first, default page size');
  t.same(await q.result('groupHereNow', { groupId: 'lobby', limit: 1, offset: 1 }), {
    groupId: 'lobby', total: 2, onlineCount: 1, offset: 1, limit: 1, members: [{ id: 'bob', online: false, data: {}, seq: seq.bob, lastSeen: seq.bobSeen }],
  }, 'second page of one');
  t.same(await q.result('groupOnlineCount', { groupIds: ['lobby', 'dev', 'none'] }), { counts: { lobby: 1, dev: 1, none: 0 } });
  const where = await q.result<{ userId: string; groups: string[] }>('whereNow', { userId: 'alice' });
  t.same({ ...where, groups: [...where.groups].sort() }, { userId: 'alice', groups: ['dev', 'lobby'] });
  t.same(await q.result('whereNow', { userId: 'bob' }), { userId: 'bob', groups: ['lobby'] }, 'membership outlives the connection');
  t.same(q.inbox.unread(), [], 'one reply per request, nothing more');

  const reply = q.inbox.all.at(-1)!;
  t.equal(reply.retain, false, 'replies are not retained');
});

t.test('attach mode: a query sees the announcements its asker made before asking', async (t) => {
  const broker = await mosquitto(t);
  if (!broker) return;
  await attach(t, broker);
  const dave = await device(t, broker.url, broker.as('dave'), 'dave-1');
  const inbox = new Inbox(dave.client);
  await subscribe(dave.client, 'presence/reply/dave-1');
  let id = 0;
  const ask = async (method: string, params: unknown) => {
    const request = `q${++id}`;
    await dave.client.publishAsync('presence/query/dave-1', JSON.stringify({ id: request, method, params }), { qos: 1 });
    const reply = await inbox.next(`the reply to ${request}`);
    t.equal(reply.json.id, request, 'the reply to this request');
    return reply.json.result as Record<string, unknown>;
  };
  t.match(await ask('hereNow', { userIds: ['dave'] }), { users: [{ id: 'dave', online: true }] }, 'its own birth');
  for (const group of ['g1', 'g2', 'g3']) {
    // No event is awaited: the announcement's PUBACK alone must be enough for the next query.
    await dave.join(group);
    const page = await ask('groupHereNow', { groupId: group });
    t.same((page.members as { id: string }[]).map((m) => m.id), ['dave'], `member of ${group} right after announcing it`);
  }
  await dave.leave('g2');
  t.same(await ask('whereNow', { userId: 'dave' }), { userId: 'dave', groups: ['g1', 'g3'] }, 'and the leave right after announcing it');
});

t.test('attach mode: bad input gets error replies with codes, and the bridge keeps answering', async (t) => {
  const broker = await mosquitto(t);
  if (!broker) return;
  const { logs } = await attach(t, broker, { maxQueryIds: 3, maxPageSize: 5, defaultPageSize: 5 });
  const q = await querier(t, broker.url, { ...broker.as('erin'), clientId: 'erin-1' });
  const cases: [string, unknown, number, RegExp][] = [
    ['hereNow', undefined, 400, /userIds/],
    ['hereNow', { userIds: 'alice' }, 400, /\/userIds must be array/],
    ['hereNow', { userIds: ['a/b'] }, 400, /not a valid id/],
    ['hereNow', { userIds: ['a', 'b', 'c', 'd'] }, 413, /over the limit of 3/],
    ['groupHereNow', { groupId: 'g', limit: 6 }, 413, /page size limit of 5/],
    ['groupHereNow', { groupId: 'g', offset: -1 }, 400, /offset/],
    ['whereNow', { userId: '+' }, 400, /not a valid id/],
    ['groupOnlineCount', { groupIds: ['ok', 7] }, 400, /must be string/],
    ['lookAround', {}, 404, /unknown method 'lookAround'/],
  ];
  for (const [method, params, code, content] of cases) {
    const reply = await q.ask(method, params);
    t.match(reply, { error: { code, content } }, `${method} ${JSON.stringify(params)}`);
    t.notOk('result' in reply);
  }
  const malformed: [string, number, RegExp, unknown][] = [
    ['not json', 400, /not valid JSON/, null],
    ['{"id":"x1"}', 400, /method/, 'x1'],
    ['[1,2]', 400, /invalid request/, null],
    [JSON.stringify({ id: 'big', method: 'hereNow', params: { userIds: ['x'.repeat(70_000)] } }), 413, /over the 65536-byte limit/, null],
  ];
  for (const [payload, code, content, id] of malformed) {
    const reply = await q.raw(payload);
    t.equal(reply.topic, 'presence/reply/erin-1');
    t.match(reply.json, { id, error: { code, content } }, payload.slice(0, 40));
  }
  t.same(await q.result('groupOnlineCount', { groupIds: ['g'] }), { counts: { g: 0 } }, 'still answering');
  t.same(q.inbox.unread(), []);
  t.notOk(logs.some((l) => l.level === 'error'), 'nothing failed inside the bridge');
});

t.test('the ACL keeps queries and replies private: another client neither reads nor forges them', async (t) => {
  const broker = await mosquitto(t);
  if (!broker) return;
  await attach(t, broker);
  const alice = await querier(t, broker.url, { ...broker.as('alice'), clientId: 'alice-1' });
  const mallory = await querier(t, broker.url, { ...broker.as('mallory'), clientId: 'mallory-1' });
  // mallory's second connection snoops with every filter she can think of; subscribing may be granted
  // or refused, either way nothing of alice's may be delivered.
  const snoop = new Inbox(await client(t, broker.url, { ...broker.as('mallory'), clientId: 'mallory-2' }));
  await subscribe(snoop.client, ['presence/reply/+', 'presence/reply/alice-1', 'presence/query/#', 'presence/#', '#']).catch(() => []);

  t.match(await alice.result('hereNow', { userIds: ['alice'] }), { users: [{ id: 'alice' }] });
  // mallory asks on alice's topic, and forges a reply to her.
  await mallory.client.publishAsync('presence/query/alice-1', JSON.stringify({ id: 'r2', method: 'whereNow', params: { userId: 'alice' } }), { qos: 1 });
  await mallory.client.publishAsync('presence/reply/alice-1', JSON.stringify({ id: 'r2', result: 'forged' }), { qos: 1 });
  // The bridge answers in order: mallory's own reply comes after anything the above could have caused.
  t.match(await mallory.result('whereNow', { userId: 'mallory' }), { userId: 'mallory' });
  // alice's next request is r2: had mallory's query or forgery reached her, `ask` would see it first.
  t.same(await alice.result('whereNow', { userId: 'alice' }), { userId: 'alice', groups: [] });
  t.same(alice.inbox.unread(), [], 'alice got her own replies only');
  t.same(mallory.inbox.unread(), [], 'mallory got her own replies only');
  // The snoop's own query is answered after every reply above: they would have reached it first.
  await snoop.client.publishAsync('presence/query/mallory-2', JSON.stringify({ id: 's', method: 'whereNow', params: { userId: 'mallory' } }), { qos: 1 });
  await snoop.find((m) => m.topic === 'presence/reply/mallory-2', 'the snoop\'s own reply');
  const private_ = snoop.all.filter((m) => /^presence\/(query|reply|conn|member)\//.test(m.topic)).map((m) => m.topic);
  t.same(private_, ['presence/reply/mallory-2'], 'no query, reply or announcement but its own');
});

t.test('attach mode: a reply goes out after the events it reflects (snapshot then events, no gap)', async (t) => {
  const racers = 16;
  const users = Array.from({ length: racers }, (_, i) => `racer-${i}`);
  const broker = await mosquitto(t, { users });
  if (!broker) return;
  await attach(t, broker);
  const snap = await client(t, broker.url, { ...broker.as('watcher'), clientId: 'snap' });
  const inbox = new Inbox(snap);
  await subscribe(snap, ['presence/group/race', 'presence/reply/snap']);
  let asked = 0;
  const ask = () =>
    snap.publishAsync('presence/query/snap', JSON.stringify({ id: asked++, method: 'groupHereNow', params: { groupId: 'race' } }), { qos: 0 });
  await Promise.all(
    users.map(async (user) => {
      const racer = await device(t, broker.url, broker.as(user), `${user}-1`);
      await Promise.all([racer.join('race'), ask(), ask()]);
    }),
  );
  await ask();
  const queries = asked;
  let lastReply = false;
  let allJoined = false;
  while (!lastReply || !allJoined) {
    const m = await inbox.next('the last reply and every join');
    if (m.topic === 'presence/reply/snap' && m.json.id === queries - 1) lastReply = true;
    if (m.topic === 'presence/group/race' && m.json.action === 'join' && m.json.groupOnlineCount === racers) allJoined = true;
  }
  const { problems, replies } = snapshotProblems(inbox.all, 'presence/group/race', 'presence/reply/snap');
  t.same(problems, [], 'every snapshot is consistent with the events around it');
  t.equal(replies.length, queries, 'one reply per query');
});

t.test('attach mode serves /v1 (with its bearer token) and /metrics on its HTTP port', async (t) => {
  const broker = await mosquitto(t);
  if (!broker) return;
  const { httpUrl } = await attach(t, broker, { apiToken: 'attach-token' });
  const events = await watch(t, broker);
  const alice = await device(t, broker.url, broker.as('alice'), 'alice-1', { name: 'Alice' });
  await alice.join('lobby');
  await events.find(isEvent('presence/group/lobby', 'alice', 'join'), 'alice joins');
  // junk on alice's own announcement topic: dropped by the bridge, counted by reason
  await alice.client.publishAsync('presence/member/lobby/alice', 'not json', { qos: 1, retain: true });
  await alice.client.publishAsync('presence/conn/alice/alice-1', JSON.stringify({ action: 'online', epoch: alice.epoch, data: { x: 'y'.repeat(2000) } }), { qos: 1, retain: true });
  // The bridge handles what reaches it in order: once carol's later query is answered, the junk was seen.
  const q = await querier(t, broker.url, { ...broker.as('carol'), clientId: 'carol-1' });
  t.match(await q.result('whereNow', { userId: 'alice' }), { groups: ['lobby'] }, 'the junk changed nothing');

  const get = (path: string, token: string | null = 'attach-token') =>
    fetch(`${httpUrl}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  t.equal((await get('/v1/users/alice', null)).status, 401, 'no token');
  t.equal((await get('/v1/users/alice', 'wrong')).status, 401, 'a wrong token');
  const user = await get('/v1/users/alice');
  t.equal(user.status, 200);
  t.match(await user.json(), { id: 'alice', online: true, data: { name: 'Alice' } });
  const group = await get('/v1/groups/lobby');
  t.equal(group.status, 200);
  t.match(await group.json(), { groupId: 'lobby', total: 1, onlineCount: 1, members: [{ id: 'alice', online: true }] });
  t.same(await (await get('/v1/users/alice/groups')).json(), { userId: 'alice', groups: ['lobby'] });
  t.equal((await get('/v1/users/nobody')).status, 404);
  t.equal((await get('/v1/users/a%2Fb')).status, 400);
  t.equal((await get('/healthz', null)).status, 200, 'health needs no token');

  const metrics = await get('/metrics', null);
  t.equal(metrics.status, 200, 'metrics need no token');
  const text = await metrics.text();
  const sample = (line: RegExp) => Number(line.exec(text)?.[1] ?? NaN);
  t.equal(sample(/^presence_users_online (\d+)$/m), 1);
  t.equal(sample(/^presence_memberships (\d+)$/m), 1);
  t.equal(sample(/^presence_events_published_total\{kind="user",action="online"\} (\d+)$/m), 1);
  t.equal(sample(/^presence_events_published_total\{kind="group",action="join"\} (\d+)$/m), 1);
  t.equal(sample(/^presence_refused_publishes_total\{reason="not_json"\} (\d+)$/m), 1, 'the junk membership, by reason');
  t.equal(sample(/^presence_refused_publishes_total\{reason="too_large"\} (\d+)$/m), 1, 'the oversized birth, by reason');
  t.equal(sample(/^presence_query_duration_seconds_count\{method="hereNow",transport="http",code="200"\} (\d+)$/m), 2, 'HTTP queries timed (alice, and nobody: answered, then a 404)');
  t.equal(sample(/^presence_query_duration_seconds_count\{method="whereNow",transport="mqtt",code="200"\} (\d+)$/m), 1, 'MQTT queries timed');
});

t.test('attach mode: queries around a resync are answered once each, from the new truth; a retained request only live', async (t) => {
  const broker = await mosquitto(t);
  if (!broker) return;
  const relay = await link(t, broker.url);
  const { running } = await attach(t, broker, { broker: relay.url });
  const { bridge } = running;
  // Retained memberships from a crowd, so that a resync has something to read.
  const crowd = 800;
  const admin = await client(t, broker.url, { ...broker.as('bridge'), clientId: 'admin' });
  for (let i = 1; i < crowd; i++) admin.publish(`presence/member/crowd/u${i}`, JSON.stringify({ action: 'join' }), { qos: 1, retain: true });
  await admin.publishAsync('presence/member/crowd/u0', JSON.stringify({ action: 'join' }), { qos: 1, retain: true });
  const q = await querier(t, broker.url, { ...broker.as('carol'), clientId: 'carol-1' });
  t.match(await q.result('groupHereNow', { groupId: 'crowd', limit: 0 }), { total: crowd });

  // A retained request is answered once, live; the copy Mosquitto keeps must not be answered at resyncs.
  await q.client.publishAsync('presence/query/carol-1', JSON.stringify({ id: 'kept', method: 'whereNow', params: { userId: 'dave' } }), { qos: 1, retain: true });
  t.same((await q.inbox.next('the reply to the retained request')).json, { id: 'kept', result: { userId: 'dave', groups: [] } });
  // QoS 1 is at least once: a reply whose PUBACK has not reached the bridge when the link is cut is
  // sent again after the reconnect (the client matches replies by id). Cut only once it is acknowledged,
  // so that a second 'kept' reply below can only come from answering the retained copy.
  const bridgeClient = (bridge as unknown as { client: MqttClient & { outgoing: Record<number, unknown> } }).client;
  await new Promise<void>((resolve) => {
    const check = () => {
      if (Object.keys(bridgeClient.outgoing).length > 0) return;
      bridgeClient.off('packetreceive', check);
      resolve();
    };
    bridgeClient.on('packetreceive', check);
    check();
  });

  const lost = once(bridge, 'connection', 'the bridge to lose its link');
  relay.cut();
  await lost;
  // dave arrives and joins while the bridge is away
  const dave = await device(t, broker.url, broker.as('dave'), 'dave-1');
  await dave.join('crowd');
  // Ask as soon as the bridge's subscriptions are in place: the questions reach it during its resync
  // or right after it; either way each is answered once, from the truth the resync found.
  const burst = 5;
  const asked = new Promise<void>((resolve) => {
    const onPacket = (packet: { cmd: string }) => {
      if (packet.cmd !== 'suback') return;
      bridgeClient.off('packetreceive', onPacket);
      for (let i = 0; i < burst; i++) {
        q.client.publish('presence/query/carol-1', JSON.stringify({ id: `during-${i}`, method: 'groupHereNow', params: { groupId: 'crowd', limit: 0 } }), { qos: 0 });
      }
      resolve();
    };
    bridgeClient.on('packetreceive', onPacket);
  });
  const synced = once(bridge, 'synced', 'the bridge to resync');
  relay.restore();
  await asked;
  await synced;
  for (let i = 0; i < burst; i++) {
    const reply = await q.inbox.next(`the reply to during-${i}`);
    t.same(reply.json, { id: `during-${i}`, result: { groupId: 'crowd', total: crowd + 1, onlineCount: 1, offset: 0, limit: 0, members: [] } },
      'dave is there, online');
  }
  t.comment(`queries held during the resync: ${bridge.queriesHeld} of ${burst}`);
  // The strict reply order proves no second answer to the retained request came in between.
  t.same(await q.result('whereNow', { userId: 'dave' }), { userId: 'dave', groups: ['crowd'] });
  t.same(q.inbox.unread(), []);
});

import t, { type Test } from 'tap';
import type { MqttClient } from 'mqtt';
import { client, Inbox, subscribe, watcher, type Received } from './fixtures/mqtt.js';
import { querier, snapshotProblems } from './fixtures/query.js';
import { serve } from './fixtures/server.js';

/** SUBACK return codes, refusals (128) included: mqtt.js rejects those, with the SUBACK attached. */
async function granted(c: MqttClient, topics: string | string[]): Promise<number[]> {
  try {
    return (await c.subscribeAsync(topics, { qos: 1 })).map((g) => g.qos);
  } catch (error) {
    const packet = (error as { packet?: { granted?: number[] } }).packet;
    if (!packet?.granted) throw error;
    return packet.granted;
  }
}

const isEvent = (topic: string, id: string, action: string) => (m: Received) =>
  m.topic === topic && m.json.id === id && m.json.action === action;

/**
 * alice (online, with data, in lobby and dev), bob (offline, still a member of lobby), nobody else.
 * Waits for the events, so the state is settled before any query.
 */
async function population(t: Test, mqttUrl: string) {
  const watch = await watcher(t, mqttUrl);
  const alice = await client(t, mqttUrl, {
    clientId: 'alice-phone',
    username: 'alice',
    will: { topic: 'presence/conn/alice/alice-phone', payload: Buffer.from('{"action":"offline","data":{"name":"Alice"}}'), qos: 1, retain: true },
  });
  await subscribe(alice, 'group/lobby');
  await subscribe(alice, 'group/dev');
  const bob = await client(t, mqttUrl, { clientId: 'bob-laptop', username: 'bob' });
  await subscribe(bob, 'group/lobby/chat');
  await watch.find(isEvent('presence/group/dev', 'alice', 'join'), 'alice joins dev');
  await watch.find(isEvent('presence/group/lobby', 'bob', 'join'), 'bob joins lobby');
  await bob.endAsync();
  await watch.find(isEvent('presence/group/lobby', 'bob', 'offline'), 'bob offline in lobby');
  // Each user's last seq, which query results carry so a client can drop events a snapshot already holds.
  const last = (id: string) => Math.max(...watch.all.filter((m) => m.json.id === id).map((m) => m.json.seq as number));
  // lastSeen: the time of bob's offline, which answers for offline users seen before carry.
  const bobSeen = watch.all.find((m) => m.topic === 'presence/user/bob' && m.json.action === 'offline')!.json.time as number;
  return { alice: last('alice'), bob: last('bob'), bobSeen };
}

/** A user entry with its seq checked (a positive number) and set aside, for comparing the rest exactly. */
function withoutSeq(t: Test, users: { seq?: unknown }[]): unknown[] {
  return users.map(({ seq, ...rest }) => {
    t.ok(typeof seq === 'number' && seq > 0, 'a known user carries its seq');
    return rest;
  });
}

t.test('each method answers from the live presence state', async (t) => {
  const { mqttUrl } = await serve(t);
  const seq = await population(t, mqttUrl);
  const q = await querier(t, mqttUrl, { clientId: 'asker' });

  t.same(await q.result('hereNow', { userIds: ['alice', 'bob', 'carol'] }), {
    users: [
      { id: 'alice', online: true, data: { name: 'Alice' }, seq: seq.alice },
      { id: 'bob', online: false, data: {}, seq: seq.bob, lastSeen: seq.bobSeen },
      { id: 'carol', online: false, data: {}, seq: 0 },
    ],
  }, 'online with data, offline member, unknown user');
  t.same(await q.result('hereNow', { userIds: [] }), { users: [] }, 'no ids, no users');

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
  t.same(await q.result('groupHereNow', { groupId: 'lobby', limit: 0 }), {
    groupId: 'lobby', total: 2, onlineCount: 1, offset: 0, limit: 0, members: [],
  }, 'limit 0: just the totals');
  t.same(await q.result('groupHereNow', { groupId: 'lobby', offset: 5 }), {
    groupId: 'lobby', total: 2, onlineCount: 1, offset: 5, limit: 100, members: [],
  }, 'past the end');
  t.same(await q.result('groupHereNow', { groupId: 'empty' }), {
    groupId: 'empty', total: 0, onlineCount: 0, offset: 0, limit: 100, members: [],
  }, 'a group without members');

  const counts = await q.result<{ counts: Record<string, number> }>('groupOnlineCount', { groupIds: ['lobby', 'dev', 'none', '__proto__'] });
  t.same(Object.entries(counts.counts), [['lobby', 1], ['dev', 1], ['none', 0], ['__proto__', 0]], 'counts, any id a plain key');

  const where = await q.result<{ userId: string; groups: string[] }>('whereNow', { userId: 'alice' });
  t.same({ ...where, groups: [...where.groups].sort() }, { userId: 'alice', groups: ['dev', 'lobby'] });
  t.same(await q.result('whereNow', { userId: 'bob' }), { userId: 'bob', groups: ['lobby'] }, 'membership outlives the connection');
  t.same(await q.result('whereNow', { userId: 'carol' }), { userId: 'carol', groups: [] }, 'unknown user');
  t.same(q.inbox.unread(), [], 'one reply per request, nothing more');
});

t.test('a query sees the changes its asker made before asking', async (t) => {
  const { mqttUrl } = await serve(t);
  const q = await querier(t, mqttUrl, { clientId: 'joiner-1', username: 'joiner' });
  for (const group of ['g1', 'g2', 'g3']) {
    await subscribe(q.client, `group/${group}`);
    // No event is awaited: the SUBACK alone must be enough for the next query to see the join.
    const page = await q.result<{ total: number; members: { id: string }[] }>('groupHereNow', { groupId: group });
    t.same(page.members.map((m) => m.id), ['joiner'], `member of ${group} right after its SUBACK`);
  }
  await q.client.unsubscribeAsync('group/g2');
  t.same(await q.result('whereNow', { userId: 'joiner' }), { userId: 'joiner', groups: ['g1', 'g3'] }, 'and the leave right after its UNSUBACK');
});

t.test('bad params get an error reply with a code, and the broker keeps answering', async (t) => {
  const { mqttUrl } = await serve(t, { maxQueryIds: 3, maxPageSize: 5, defaultPageSize: 5 });
  const q = await querier(t, mqttUrl, { clientId: 'asker' });
  const cases: [string, unknown, number, RegExp][] = [
    ['hereNow', undefined, 400, /userIds/],
    ['hereNow', { userIds: 'alice' }, 400, /\/userIds must be array/],
    ['hereNow', { userIds: ['alice', 7] }, 400, /\/userIds\/1 must be string/],
    ['hereNow', { userIds: ['a/b'] }, 400, /\/userIds\/0 is not a valid id: contains '\/'/],
    ['hereNow', { userIds: ['$SYS'] }, 400, /not a valid id/],
    ['hereNow', { userIds: ['x'.repeat(129)] }, 400, /longer than 128/],
    ['hereNow', { userIds: [''] }, 400, /empty/],
    ['hereNow', { userIds: ['a', 'b', 'c', 'd'] }, 413, /4 userIds is over the limit of 3/],
    ['hereNow', { userIds: ['a'], extra: true }, 400, /must NOT have additional properties 'extra'/],
    ['groupHereNow', {}, 400, /groupId/],
    ['groupHereNow', { groupId: 'g/+' }, 400, /\/groupId is not a valid id/],
    ['groupHereNow', { groupId: 'g', limit: 6 }, 413, /limit 6 is over the page size limit of 5/],
    ['groupHereNow', { groupId: 'g', limit: -1 }, 400, /\/limit must be >= 0/],
    ['groupHereNow', { groupId: 'g', limit: 1.5 }, 400, /\/limit must be integer/],
    ['groupHereNow', { groupId: 'g', offset: '2' }, 400, /\/offset must be integer/],
    ['groupHereNow', { groupId: 'g', page: 2 }, 400, /additional properties 'page'/],
    ['groupOnlineCount', {}, 400, /groupIds/],
    ['groupOnlineCount', { groupIds: ['a', 'b', 'c', 'd'] }, 413, /over the limit of 3/],
    ['groupOnlineCount', { groupIds: ['#'] }, 400, /\/groupIds\/0 is not a valid id/],
    ['whereNow', { userId: 5 }, 400, /\/userId must be string/],
    ['whereNow', { userId: 'a\u0000b' }, 400, /contains 'NUL'/],
    ['whereNow', [], 400, /invalid/],
    ['hereNowX', {}, 404, /unknown method 'hereNowX'/],
  ];
  for (const [method, params, code, content] of cases) {
    const reply = await q.ask(method, params);
    t.equal((reply.error as { code: number })?.code, code, `${method} ${JSON.stringify(params)} -> ${code}`);
    t.match((reply.error as { content: string })?.content, content);
    t.notOk('result' in reply, 'no result beside the error');
  }
  const still = await q.result<{ users: { seq?: unknown }[] }>('hereNow', { userIds: ['asker'] });
  t.same(withoutSeq(t, still.users), [{ id: 'asker', online: true, data: {} }], 'still answering');
  t.same(q.inbox.unread(), []);
});

t.test('malformed requests: id null when none can be read, otherwise echoed', async (t) => {
  const { mqttUrl } = await serve(t, { maxQueryBytes: 512 });
  const q = await querier(t, mqttUrl, { clientId: 'asker' });
  const cases: [string | Buffer, unknown, number, RegExp][] = [
    ['{"id":"a",', null, 400, /not valid JSON/],
    ['', null, 400, /not valid JSON/],
    [Buffer.from([0xff, 0xfe, 0x00]), null, 400, /not valid JSON/],
    ['[1,2]', null, 400, /must be object/],
    ['"hereNow"', null, 400, /must be object/],
    ['{"method":"hereNow","params":{"userIds":[]}}', null, 400, /must have required property 'id'/],
    ['{"id":{"x":1},"method":"hereNow","params":{"userIds":[]}}', null, 400, /\/id/],
    ['{"id":1.5,"method":"hereNow","params":{"userIds":[]}}', null, 400, /\/id/],
    [JSON.stringify({ id: 'x'.repeat(129), method: 'hereNow' }), null, 400, /\/id/],
    ['{"id":"m1"}', 'm1', 400, /required property 'method'/],
    ['{"id":"m2","method":7}', 'm2', 400, /\/method must be string/],
    ['{"id":"m3","method":"hereNow","params":[]}', 'm3', 400, /\/params must be object/],
    ['{"id":"m4","method":"hereNow","params":{"userIds":[]},"jsonrpc":"2.0"}', 'm4', 400, /additional properties 'jsonrpc'/],
    ['{"id":"m5","method":"nope","params":{}}', 'm5', 404, /unknown method 'nope'/],
    [JSON.stringify({ id: 'big', method: 'hereNow', params: { userIds: ['a'.repeat(600)] } }), null, 413, /over the 512-byte limit/],
  ];
  for (const [payload, id, code, content] of cases) {
    const reply = await q.raw(payload);
    t.equal(reply.topic, 'presence/reply/asker');
    t.equal(reply.json.id, id, `id of ${JSON.stringify(typeof payload === 'string' ? payload.slice(0, 40) : `bytes ${payload.toString('hex')}`)}`);
    t.equal((reply.json.error as { code: number }).code, code);
    t.match((reply.json.error as { content: string }).content, content);
  }
  const numeric = await q.raw('{"id":42,"method":"whereNow","params":{"userId":"asker"}}');
  t.same(numeric.json, { id: 42, result: { userId: 'asker', groups: [] } }, 'a numeric id is echoed as a number');
  t.same(q.inbox.unread(), [], 'exactly one reply per request');
});

t.test('a burst of requests, good and bad, gets exactly one reply each', async (t) => {
  const { mqttUrl } = await serve(t, { maxQueryIds: 5 });
  const q = await querier(t, mqttUrl, { clientId: 'burst' });
  const requests = Array.from({ length: 400 }, (_, i) => {
    switch (i % 4) {
      case 0:
        return { id: i, method: 'hereNow', params: { userIds: ['burst', `u${i}`] } };
      case 1:
        return { id: i, method: 'groupHereNow', params: { groupId: `g${i}`, limit: 'x' } };
      case 2:
        return { id: i, method: 'hereNow', params: { userIds: ['a', 'b', 'c', 'd', 'e', 'f'] } };
      default:
        return { id: i, method: `m${i}` };
    }
  });
  // Sent without waiting for any reply.
  await Promise.all(requests.map((r) => q.client.publishAsync('presence/query/burst', JSON.stringify(r), { qos: 0 })));
  const byId = new Map<number, Record<string, unknown>>();
  const duplicates: number[] = [];
  for (let n = 0; n < requests.length; n++) {
    const reply = await q.inbox.next(`reply ${n + 1} of ${requests.length}`);
    const id = reply.json.id as number;
    if (byId.has(id)) duplicates.push(id);
    byId.set(id, reply.json);
  }
  t.same(duplicates, [], 'no request answered twice');
  const codes = [...byId.entries()].map(([id, reply]) => [id % 4, (reply.error as { code: number } | undefined)?.code ?? 200]);
  t.same(new Set(codes.map(([kind, code]) => `${kind}:${code}`)), new Set(['0:200', '1:400', '2:413', '3:404']), 'each kind its answer');
  t.equal(byId.size, requests.length);
  // One more round trip: nothing else was on its way.
  t.same(await q.result('whereNow', { userId: 'burst' }), { userId: 'burst', groups: [] });
  t.same(q.inbox.unread(), []);
});

t.test('a reply reaches only the client that asked', async (t) => {
  const { mqttUrl } = await serve(t);
  const alice = await querier(t, mqttUrl, { clientId: 'alice-q', username: 'alice' });
  const eve = await client(t, mqttUrl, { clientId: 'eve', username: 'eve' });
  const eveInbox = new Inbox(eve);
  t.same(await granted(eve, 'presence/reply/alice-q'), [128], "alice's reply topic is denied");
  t.same(await granted(eve, 'presence/reply/+'), [128], 'a wildcard over reply topics is denied');
  t.same(await granted(eve, ['presence/#', '#', 'presence/reply/eve']), [1, 1, 1], 'broad wildcards and her own are granted');

  const answered = await alice.ask('whereNow', { userId: 'alice' });
  t.same(answered.result, { userId: 'alice', groups: [] }, 'alice got her reply while eve listened everywhere');

  // eve publishes into alice's query topic: refused, so nobody is answered.
  await eve.publishAsync('presence/query/alice-q', JSON.stringify({ id: 'spoof', method: 'hereNow', params: { userIds: ['alice'] } }), { qos: 1 });
  // eve's own question, asked after both: its reply comes after anything meant for alice would have.
  await eve.publishAsync('presence/query/eve', JSON.stringify({ id: 'eve-1', method: 'hereNow', params: { userIds: ['eve'] } }), { qos: 1 });
  const own = await eveInbox.find((m) => m.topic === 'presence/reply/eve', "eve's own reply");
  const { result, ...envelope } = own.json as { result: { users: { seq?: unknown }[] } };
  t.same(envelope, { id: 'eve-1' });
  t.same(withoutSeq(t, result.users), [{ id: 'eve', online: true, data: {} }]);
  const leaked = eveInbox.all.filter((m) => m.topic.startsWith('presence/reply/alice') || m.topic.startsWith('presence/query/'));
  t.same(leaked, [], "eve saw neither alice's reply nor any query");
  t.notOk(eveInbox.all.some((m) => m.json.id === 'spoof'), 'the spoofed query was never answered to eve');

  const next = await alice.ask('whereNow', { userId: 'eve' });
  t.same(next.result, { userId: 'eve', groups: [] }, "alice's next reply is her own: no answer to the spoofed query reached her");
  t.same(alice.inbox.unread(), []);
});

t.test('a snapshot never misses or repeats an event racing it', async (t) => {
  const { mqttUrl } = await serve(t);
  const snap = await client(t, mqttUrl, { clientId: 'snap' });
  const inbox = new Inbox(snap);
  await subscribe(snap, ['presence/group/race', 'presence/reply/snap']);
  const racers = 24;
  let asked = 0;
  const ask = () =>
    snap.publishAsync('presence/query/snap', JSON.stringify({ id: asked++, method: 'groupHereNow', params: { groupId: 'race' } }), { qos: 0 });
  // Joins and queries in flight together: each racer's SUBSCRIBE leaves with a query beside it.
  const joining = Promise.all(
    Array.from({ length: racers }, async (_, i) => {
      const c = await client(t, mqttUrl, { clientId: `racer-${i}`, username: `racer-${i}` });
      await Promise.all([subscribe(c, 'group/race'), ask(), ask()]);
    }),
  );
  await joining;
  await ask();
  const queries = asked;
  let lastReply = false;
  let allJoined = false;
  while (!lastReply || !allJoined) {
    const m = await inbox.next('the last reply and every join');
    if (m.topic === 'presence/reply/snap' && m.json.id === queries - 1) lastReply = true;
    if (m.topic === 'presence/group/race' && m.json.groupOnlineCount === racers) allJoined = true;
  }
  const { problems, replies } = snapshotProblems(inbox.all, 'presence/group/race', 'presence/reply/snap');
  t.same(problems, [], 'every snapshot is consistent with the events around it');
  t.equal(replies.length, queries, 'one reply per query');
  t.comment(`snapshots taken mid-join: ${replies.filter((r) => r.total > 0 && r.total < racers).length} of ${queries}`);
  t.equal(inbox.all.filter((m) => m.topic === 'presence/group/race' && m.json.action === 'join').length, racers);
});

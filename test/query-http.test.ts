import t from 'tap';
import { client, subscribe, watcher } from './fixtures/mqtt.js';
import { serve } from './fixtures/server.js';

const TOKEN = 'k7-very-secret-token';

async function get(url: string, headers: Record<string, string> = {}, method = 'GET') {
  const res = await fetch(url, { method, headers });
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = text;
  }
  return { status: res.status, headers: res.headers, body: body as Record<string, unknown> };
}

t.test('HTTP API: results, status codes and the bearer token', async (t) => {
  const { mqttUrl, httpUrl } = await serve(t, { apiToken: TOKEN, maxQueryIds: 3, maxPageSize: 5, defaultPageSize: 2 });
  const watch = await watcher(t, mqttUrl, ['presence/group/+']);
  const alice = await client(t, mqttUrl, {
    clientId: 'alice-phone',
    username: 'alice',
    will: { topic: 'presence/conn/alice/alice-phone', payload: Buffer.from('{"action":"offline","data":{"name":"Alice"}}'), qos: 1, retain: true },
  });
  await subscribe(alice, 'group/lobby');
  const bob = await client(t, mqttUrl, { clientId: 'bob-1', username: 'bob' });
  await subscribe(bob, 'group/lobby');
  await watch.find((m) => m.json.id === 'bob' && m.json.action === 'join', 'bob joins');
  await bob.endAsync();
  await watch.find((m) => m.json.id === 'bob' && m.json.action === 'offline', 'bob offline');
  const last = (id: string) => Math.max(...watch.all.filter((m) => m.json.id === id).map((m) => m.json.seq as number));
  // lastSeen: the time of bob's offline (its group event has the same time), which answers for offline users seen before carry.
  const bobSeen = watch.all.find((m) => m.topic === 'presence/group/lobby' && m.json.id === 'bob' && m.json.action === 'offline')!.json.time as number;
  const seq = { alice: last('alice'), bob: last('bob'), bobSeen };

  const auth = { authorization: `Bearer ${TOKEN}` };
  const api = (path: string) => get(`${httpUrl}${path}`, auth);

  t.test('the token guards /v1 and only /v1', async (t) => {
    for (const headers of <Record<string, string>[]>[
      {},
      { authorization: 'Bearer wrong' },
      { authorization: `Bearer ${TOKEN}x` },
      { authorization: `Bearer ${TOKEN.slice(0, -1)}` },
      { authorization: `Basic ${Buffer.from(`user:${TOKEN}`).toString('base64')}` },
      { authorization: TOKEN },
      { authorization: 'Bearer ' },
    ]) {
      for (const path of ['/v1/users/alice', '/v1/groups/lobby', '/v1/no-such-thing']) {
        const res = await get(`${httpUrl}${path}`, headers);
        t.equal(res.status, 401, `${path} with ${JSON.stringify(headers)}`);
        t.same(res.body, { error: { code: 401, content: 'a valid bearer token is required' } });
        t.equal(res.headers.get('www-authenticate'), 'Bearer realm="presence-bridge"');
      }
    }
    t.equal((await get(`${httpUrl}/v1/users/alice`, { authorization: `bearer ${TOKEN}` })).status, 200, 'the scheme is case-insensitive');
    t.equal((await get(`${httpUrl}/healthz`)).status, 200, '/healthz stays open');
    t.equal((await get(`${httpUrl}/metrics`)).status, 200, '/metrics stays open');
  });

  t.test('users', async (t) => {
    const one = await api('/v1/users/alice');
    t.equal(one.status, 200);
    t.match(one.headers.get('content-type'), /^application\/json/);
    t.same(one.body, { id: 'alice', online: true, data: { name: 'Alice' }, seq: seq.alice });
    t.same((await api('/v1/users/bob')).body, { id: 'bob', online: false, data: {}, seq: seq.bob, lastSeen: seq.bobSeen }, 'an offline member is known');
    t.same(await api('/v1/users/carol').then((r) => [r.status, r.body]), [404, { error: { code: 404, content: "user 'carol' is not known" } }]);
    t.same((await api('/v1/users?ids=alice,bob,carol')).body, {
      users: [
        { id: 'alice', online: true, data: { name: 'Alice' }, seq: seq.alice },
        { id: 'bob', online: false, data: {}, seq: seq.bob, lastSeen: seq.bobSeen },
        { id: 'carol', online: false, data: {}, seq: 0 },
      ],
    }, 'a list answers for unknown users too');
    t.same((await api('/v1/users?ids=alice&ids=bob')).body, {
      users: [
        { id: 'alice', online: true, data: { name: 'Alice' }, seq: seq.alice },
        { id: 'bob', online: false, data: {}, seq: seq.bob, lastSeen: seq.bobSeen },
      ],
    }, 'repeated ids parameters add up');
    t.same((await api('/v1/users?ids=a%2Cb')).body, { users: [{ id: 'a,b', online: false, data: {}, seq: 0 }] }, 'an encoded comma is part of an id');
    t.same((await api('/v1/users/alice/groups')).body, { userId: 'alice', groups: ['lobby'] });
    t.same((await api('/v1/users/bob/groups')).body, { userId: 'bob', groups: ['lobby'] });
    t.equal((await api('/v1/users/carol/groups')).status, 404);
    const head = await get(`${httpUrl}/v1/users/alice`, auth, 'HEAD');
    t.equal(head.status, 200, 'HEAD works like GET');
    t.equal(head.body, undefined, 'without a body');
  });

  t.test('groups', async (t) => {
    t.same((await api('/v1/groups/lobby')).body, {
      groupId: 'lobby', total: 2, onlineCount: 1, offset: 0, limit: 2,
      members: [
        { id: 'alice', online: true, data: { name: 'Alice' }, seq: seq.alice },
        { id: 'bob', online: false, data: {}, seq: seq.bob, lastSeen: seq.bobSeen },
      ],
    });
    t.same((await api('/v1/groups/lobby?limit=1&offset=1')).body, {
      groupId: 'lobby', total: 2, onlineCount: 1, offset: 1, limit: 1, members: [{ id: 'bob', online: false, data: {}, seq: seq.bob, lastSeen: seq.bobSeen }],
    });
    t.same(await api('/v1/groups/nobody').then((r) => [r.status, r.body]), [404, { error: { code: 404, content: "group 'nobody' has no members" } }]);
    t.same((await api('/v1/groups?ids=lobby,nobody')).body, { counts: { lobby: 1, nobody: 0 } });
  });

  t.test('bad input is a 400, a limit a 413, nothing known a 404', async (t) => {
    const cases: [string, number, RegExp][] = [
      ['/v1/users/%24SYS', 400, /^the user id in the path \('\$SYS'\) is not a valid id: starts with '\$'$/],
      ['/v1/users/a%2Fb', 400, /not a valid id: contains '\/'/],
      ['/v1/users/a%23', 400, /contains '#'/],
      ['/v1/users/a%2B', 400, /contains '\+'/],
      ['/v1/users/a%00', 400, /contains 'NUL'/],
      [`/v1/users/${'x'.repeat(129)}`, 400, /longer than 128/],
      ['/v1/users/%24x/groups', 400, /^the user id in the path \('\$x'\) is not a valid id/],
      ['/v1/users', 400, /^query parameter 'ids' is required/],
      ['/v1/users?ids=', 400, /^item 1 of query parameter 'ids' \(''\) is not a valid id: empty/],
      ['/v1/users?ids=a,,b', 400, /^item 2 of query parameter 'ids' \(''\) is not a valid id: empty/],
      ['/v1/users?ids=a&foo=1', 400, /unknown query parameter 'foo'/],
      ['/v1/users/alice?verbose=1', 400, /unknown query parameter 'verbose'/],
      ['/v1/users?ids=%E0%A4%A', 400, /malformed percent-encoding/],
      ['/v1/users?ids=a,b,c,d', 413, /4 userIds is over the limit of 3/],
      ['/v1/groups?ids=a,b,c,d', 413, /over the limit of 3/],
      ['/v1/groups', 400, /^query parameter 'ids' is required/],
      ['/v1/groups/lobby?limit=abc', 400, /^query parameter 'limit' must be integer/],
      ['/v1/groups/lobby?limit=-1', 400, /^query parameter 'limit' must be integer/],
      ['/v1/groups/lobby?offset=1e3', 400, /^query parameter 'offset' must be integer/],
      ['/v1/groups/lobby?limit=1&limit=2', 400, /^query parameter 'limit' must be integer/],
      ['/v1/groups/lobby?limit=6', 413, /limit 6 is over the page size limit of 5/],
      ['/v1/groups/%2B', 400, /^the group id in the path \('\+'\) is not a valid id/],
      ['/v1/groups/lobby/members', 404, /no such endpoint/],
      ['/v1', 404, /no such endpoint/],
      ['/v1/', 404, /no such endpoint/],
    ];
    for (const [path, status, content] of cases) {
      const res = await api(path);
      t.equal(res.status, status, `GET ${path}`);
      t.equal((res.body.error as { code: number })?.code, status, 'the body carries the same code');
      t.match((res.body.error as { content: string })?.content, content);
      t.notMatch((res.body.error as { content: string })?.content, /\/(userIds?|groupIds?|limit|offset)\b|invalid params/, 'speaks of the request, not of internal params');
    }
    const post = await get(`${httpUrl}/v1/users/alice`, auth, 'POST');
    t.same([post.status, post.body], [405, { error: { code: 405, content: 'POST is not allowed here' } }], 'read-only');
    t.equal(post.headers.get('allow'), 'GET, HEAD');
    const outside = await get(`${httpUrl}/v2/users/alice`);
    t.same([outside.status, outside.body], [404, { error: { code: 404, content: 'no such endpoint' } }], 'the same error shape outside /v1');
  });
});

t.test('without a token the API is open', async (t) => {
  const { httpUrl } = await serve(t);
  const res = await get(`${httpUrl}/v1/users?ids=nobody`);
  t.equal(res.status, 200);
  t.same(res.body, { users: [{ id: 'nobody', online: false, data: {}, seq: 0 }] });
  t.equal((await get(`${httpUrl}/v1/users/nobody`)).status, 404);
});

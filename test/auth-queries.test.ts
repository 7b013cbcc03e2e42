import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { PolicyFactory } from '../src/auth/policy.js';
import { resolveServeConfig, type ServeConfig } from '../src/config.js';
import { createLogger } from '../src/log/logger.js';
import { startServer } from '../src/serve.js';
import { writeUsersFile } from './fixtures/auth.js';
import { client, subscribe } from './fixtures/mqtt.js';
import { querier, type Querier } from './fixtures/query.js';
import { serve, type LogRecord } from './fixtures/server.js';

/**
 * Queries are another way to watch, so the watch policy scopes them as it scopes subscriptions
 * (docs/security.md, "Queries"): one user or group the asker may not watch is a 403, the way an
 * exact SUBSCRIBE is granted 0x80; in a batch it is answered exactly like something never seen.
 */

const USERS = {
  alice: { password: 'pw', groups: ['g1'], data: { name: 'Alice' } },
  bob: { password: 'pw', groups: ['g1', 'g3'], data: { name: 'Bob' } },
  carol: { password: 'pw', groups: ['g2'], data: { name: 'Carol' } },
  dave: { password: 'pw' },
};
const TOKEN = 'backend-token-0123456789';

const as = (userId: string, clientId = `${userId}-1`) => ({ clientId, username: userId, password: 'pw' });

/** What a batch answers for a user the server knows nothing about. */
const unknownUser = (id: string) => ({ id, online: false, data: {}, seq: 0 });

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/**
 * alice in g1; bob in g3 and g1; carol in g2; all online; dave (no groups) connects later as the
 * stranger. A SUBACK means the join (and the connect before it) is queued in the model, and every
 * query first applies what is queued, so no event needs to be awaited.
 */
async function population(t: Test, overrides: Partial<ServeConfig>) {
  const usersFile = await writeUsersFile(join(t.testdir(), 'users.json'), USERS);
  const server = await serve(t, { usersFile, ...overrides });
  const joined = async (userId: string, groups: string[]) => {
    const c = await client(t, server.mqttUrl, as(userId, `${userId}-member`));
    for (const g of groups) t.same(await subscribe(c, `group/${g}`), [1], `${userId} joins ${g}`);
    return c;
  };
  const members = { alice: await joined('alice', ['g1']), bob: await joined('bob', ['g3', 'g1']), carol: await joined('carol', ['g2']) };
  const ask = (userId: string) => querier(t, server.mqttUrl, as(userId, `${userId}-asker`));
  return { ...server, members, ask };
}

function errorOf(reply: Record<string, unknown>): { code: number; content: string } {
  if (!('error' in reply)) throw new Error(`expected an error reply, got ${JSON.stringify(reply)}`);
  return reply.error as { code: number; content: string };
}

t.test('shared-group: a user sharing a group sees the other, and only through the groups they share', async (t) => {
  const { ask } = await population(t, { authorization: 'shared-group' });
  const alice = await ask('alice');

  const { users } = await alice.result<{ users: { id: string; online: boolean; data: unknown; seq: number }[] }>('hereNow', {
    userIds: ['bob', 'alice'],
  });
  t.match(users, [
    { id: 'bob', online: true, data: { name: 'Bob' } },
    { id: 'alice', online: true, data: { name: 'Alice' } },
  ], 'bob (shares g1) and herself, online with their data');
  t.ok(users.every((u) => u.seq > 0), 'with their seqs');

  const page = await alice.result('groupHereNow', { groupId: 'g1' });
  t.match(page, { groupId: 'g1', total: 2, onlineCount: 2 }, "her own group's members");
  t.same((page.members as { id: string }[]).map((m) => m.id).sort(), ['alice', 'bob']);

  t.same(await alice.result('groupOnlineCount', { groupIds: ['g1'] }), { counts: { g1: 2 } });
  t.same(await alice.result('whereNow', { userId: 'bob' }), { userId: 'bob', groups: ['g1'] }, "bob's groups she may watch: g1, not g3");
  t.same(await alice.result('whereNow', { userId: 'alice' }), { userId: 'alice', groups: ['g1'] }, 'her own groups');

  // A join is counted the moment it is authorized: asking right after the SUBACK already sees it.
  const bob = await ask('bob');
  t.same(await bob.result('groupHereNow', { groupId: 'g3', limit: 0 }), { groupId: 'g3', total: 1, onlineCount: 1, offset: 0, limit: 0, members: [] });
  t.same(await bob.result('whereNow', { userId: 'bob' }), { userId: 'bob', groups: ['g3', 'g1'] }, 'bob sees all of his own groups');
});

t.test('shared-group: a stranger learns nothing from any method', async (t) => {
  const { ask, logs } = await population(t, { authorization: 'shared-group' });
  const alice = await ask('alice');
  const dave = await ask('dave');

  // Batches: what may not be watched is answered exactly like an id never seen (nobody).
  t.same(await alice.result('hereNow', { userIds: ['carol', 'nobody'] }), { users: [unknownUser('carol'), unknownUser('nobody')] },
    'carol (online, no shared group) looks exactly like a user that does not exist');
  const { users } = await dave.result<{ users: unknown[] }>('hereNow', { userIds: ['alice', 'bob', 'carol', 'dave'] });
  t.same(users.slice(0, 3), [unknownUser('alice'), unknownUser('bob'), unknownUser('carol')], 'dave sees nobody else');
  t.match(users[3], { id: 'dave', online: true }, 'but he does see himself');
  t.same(await alice.result('groupOnlineCount', { groupIds: ['g1', 'g2', 'g3', 'nothing'] }), { counts: { g1: 2, g2: 0, g3: 0, nothing: 0 } },
    'groups she is not in count 0, like a group without members');
  t.same(await dave.result('groupOnlineCount', { groupIds: ['g1', 'g2'] }), { counts: { g1: 0, g2: 0 } });

  // One group or user: refused, and refused the same whether it exists or not.
  const refused = async (q: Querier, method: string, params: Record<string, unknown>) => errorOf(await q.ask(method, params));
  t.same(await refused(alice, 'groupHereNow', { groupId: 'g2' }), { code: 403, content: "not allowed to watch group 'g2'" });
  t.same(await refused(alice, 'groupHereNow', { groupId: 'g3' }), { code: 403, content: "not allowed to watch group 'g3'" },
    "bob's other group, though she watches bob");
  t.same(await refused(alice, 'groupHereNow', { groupId: 'nothing' }), { code: 403, content: "not allowed to watch group 'nothing'" },
    'a group that does not exist is refused the same way');
  t.same(await refused(dave, 'groupHereNow', { groupId: 'g1', limit: 0 }), { code: 403, content: "not allowed to watch group 'g1'" }, 'totals too');
  t.same(await refused(alice, 'whereNow', { userId: 'carol' }), { code: 403, content: "not allowed to watch user 'carol'" });
  t.same(await refused(alice, 'whereNow', { userId: 'nobody' }), { code: 403, content: "not allowed to watch user 'nobody'" },
    'a user that does not exist is refused the same way');
  t.same(await refused(dave, 'whereNow', { userId: 'bob' }), { code: 403, content: "not allowed to watch user 'bob'" });
  t.same(await dave.result('whereNow', { userId: 'dave' }), { userId: 'dave', groups: [] }, 'his own (empty) groups');

  // Invalid input is still a 400, checked before the policy: the policy never sees a bad id.
  t.equal(errorOf(await dave.ask('groupHereNow', { groupId: 'a/b' })).code, 400);
  t.equal(errorOf(await dave.ask('whereNow', { userId: '$SYS' })).code, 400);

  const refusals = logs.filter((l) => l.msg === 'query refused');
  t.ok(refusals.some((l) => l.clientId === 'dave-asker' && l.userId === 'dave' && l.reason === "not allowed to watch user 'bob'" && l.policy === 'shared-group'),
    'a refused query is logged with who asked and why');
});

t.test('shared-group: what a query shows follows membership as it changes', async (t) => {
  const { ask, members } = await population(t, { authorization: 'shared-group' });
  const carol = await ask('carol');
  t.same(await carol.result('groupOnlineCount', { groupIds: ['g2'] }), { counts: { g2: 1 } });
  // The only connection of hers in g2 unsubscribes: an explicit leave, after which g2 is not hers to watch.
  await members.carol.unsubscribeAsync('group/g2');
  t.same(errorOf(await carol.ask('groupHereNow', { groupId: 'g2' })), { code: 403, content: "not allowed to watch group 'g2'" }, 'after leaving, the group is refused');
  t.same(await carol.result('groupOnlineCount', { groupIds: ['g2'] }), { counts: { g2: 0 } });
  t.same(await subscribe(carol.client, 'group/g2'), [1], 'she joins again, from the asking connection');
  t.same(await carol.result('groupOnlineCount', { groupIds: ['g2'] }), { counts: { g2: 1 } }, 'and sees it again');
});

t.test('open policy: queries are unscoped, as before', async (t) => {
  const { ask } = await population(t, { authorization: 'open' });
  const dave = await ask('dave');
  t.match(await dave.result('hereNow', { userIds: ['carol'] }), { users: [{ id: 'carol', online: true, data: { name: 'Carol' } }] });
  t.match(await dave.result('groupHereNow', { groupId: 'g2' }), { total: 1, members: [{ id: 'carol' }] });
  t.same(await dave.result('groupOnlineCount', { groupIds: ['g1', 'g2', 'g3'] }), { counts: { g1: 2, g2: 1, g3: 1 } });
  t.same(await dave.result('whereNow', { userId: 'bob' }), { userId: 'bob', groups: ['g3', 'g1'] });
});

t.test('a custom policy scopes queries; one that throws refuses and the broker carries on', async (t) => {
  const usersFile = await writeUsersFile(join(t.testdir(), 'users.json'), USERS);
  const logs: LogRecord[] = [];
  // Everyone watches every group, but users only themselves; and asking about 'boom' throws.
  const groupsOnly: PolicyFactory = () => ({
    name: 'groups-only',
    mayWatchUser: (viewer, userId) => {
      if (userId === 'boom') throw new Error('policy bug');
      return viewer.userId === userId;
    },
    mayWatchGroup: () => true,
  });
  const config = resolveServeConfig({ mqttPort: 0, httpPort: 0, usersFile, logLevel: 'debug' });
  const server = await startServer(config, createLogger('debug', (l) => logs.push(JSON.parse(l) as LogRecord)), { policy: groupsOnly });
  t.teardown(() => server.close());
  const url = `mqtt://127.0.0.1:${server.mqttPort}`;
  const bob = await client(t, url, as('bob', 'bob-member'));
  await subscribe(bob, ['group/g3', 'group/g1']);
  const alice = await querier(t, url, as('alice', 'alice-asker'));
  t.match(await alice.result('groupHereNow', { groupId: 'g1' }), { total: 1, members: [{ id: 'bob', online: true }] }, 'groups are open to her');
  t.same(await alice.result('hereNow', { userIds: ['bob', 'boom'] }), { users: [unknownUser('bob'), unknownUser('boom')] }, 'users are not');
  t.same(errorOf(await alice.ask('whereNow', { userId: 'bob' })), { code: 403, content: "not allowed to watch user 'bob'" });
  t.same(errorOf(await alice.ask('whereNow', { userId: 'boom' })), { code: 403, content: "not allowed to watch user 'boom'" }, 'a throwing policy denies');
  t.ok(logs.some((l) => l.msg === 'watch policy failed; denying' && l.target === 'boom'), 'and the failure is logged');
  t.same(await alice.result('whereNow', { userId: 'alice' }), { userId: 'alice', groups: [] }, 'the connection and broker are still there');
});

t.test('HTTP: with a token, a trusted backend sees everything', async (t) => {
  const { httpUrl, logs } = await population(t, { authorization: 'shared-group', apiToken: TOKEN });
  const auth = { authorization: `Bearer ${TOKEN}` };
  t.match(await get(`${httpUrl}/v1/users/carol`, auth), { status: 200, body: { id: 'carol', online: true, data: { name: 'Carol' } } });
  t.match(await get(`${httpUrl}/v1/groups/g2`, auth), { status: 200, body: { total: 1, members: [{ id: 'carol' }] } });
  t.same(await get(`${httpUrl}/v1/groups?ids=g1,g2,g3`, auth), { status: 200, body: { counts: { g1: 2, g2: 1, g3: 1 } } });
  t.same(await get(`${httpUrl}/v1/users/bob/groups`, auth), { status: 200, body: { userId: 'bob', groups: ['g3', 'g1'] } });
  t.equal((await get(`${httpUrl}/v1/users/carol`)).status, 401, 'without the token: 401, as before');
  t.ok(logs.some((l) => l.msg === 'listening' && l.api === 'bearer token'));
});

t.test('HTTP: without a token, /v1 is closed whenever clients authenticate or a policy restricts watching', async (t) => {
  const closed = async (t: Test, overrides: Partial<ServeConfig>, why: RegExp) => {
    const { httpUrl, logs } = await serve(t, overrides);
    for (const path of ['/v1/users/carol', '/v1/users?ids=carol', '/v1/users/carol/groups', '/v1/groups/g2', '/v1/groups?ids=g2', '/v1/nothing']) {
      const res = await get(`${httpUrl}${path}`);
      t.equal(res.status, 403, `${path} is refused`);
      t.match(res.body, { error: { code: 403, content: why } });
    }
    t.equal((await get(`${httpUrl}/healthz`)).status, 200, '/healthz stays open');
    t.ok(logs.some((l) => l.msg === 'listening' && l.api === 'closed'), 'the start log says the API is closed');
    t.ok(logs.some((l) => l.level === 'warn' && /HTTP API \(\/v1\) is closed/.test(l.msg)), 'and warns why');
  };
  const usersFile = await writeUsersFile(join(t.testdir(), 'users.json'), USERS);
  await t.test('authentication, shared-group', (t) => closed(t, { usersFile, authorization: 'shared-group' }, /clients must authenticate.*apiToken/));
  await t.test('authentication, open policy', (t) => closed(t, { usersFile, authorization: 'open' }, /clients must authenticate/));
  await t.test('anonymous, shared-group', (t) => closed(t, { authorization: 'shared-group' }, /shared-group watch policy is in force/));
  await t.test('a token opens it again', async (t) => {
    const { httpUrl } = await serve(t, { usersFile, authorization: 'shared-group', apiToken: TOKEN });
    t.equal((await get(`${httpUrl}/v1/users?ids=carol`, { authorization: `Bearer ${TOKEN}` })).status, 200);
  });
});

t.test('HTTP: anonymous clients and the open policy keep /v1 open without a token, as before', async (t) => {
  const { httpUrl, mqttUrl, logs } = await serve(t);
  const carol = await client(t, mqttUrl, { clientId: 'carol-1', username: 'carol' });
  await subscribe(carol, 'group/g2');
  t.match(await get(`${httpUrl}/v1/users/carol`), { status: 200, body: { id: 'carol', online: true } });
  t.same(await get(`${httpUrl}/v1/users/carol/groups`), { status: 200, body: { userId: 'carol', groups: ['g2'] } });
  t.ok(logs.some((l) => l.msg === 'listening' && l.api === 'open'));
});

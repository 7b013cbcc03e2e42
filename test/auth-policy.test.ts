import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AedesPublishPacket, Client } from 'aedes';
import t from 'tap';
import type { PolicyFactory } from '../src/auth/policy.js';
import { resolveServeConfig } from '../src/config.js';
import { createLogger } from '../src/log/logger.js';
import { startServer } from '../src/serve.js';
import { authedWatcher, grants, writeUsersFile } from './fixtures/auth.js';
import { client, Inbox, subscribe, WAIT_MS } from './fixtures/mqtt.js';
import { serve, type LogRecord } from './fixtures/server.js';

const USERS = {
  alice: { password: 'pw', groups: ['g1'] },
  bob: { password: 'pw', groups: ['g1'] },
  carol: { password: 'pw', groups: ['g2'] },
  dave: { password: 'pw' },
};

const as = (userId: string, clientId = `${userId}-1`) => ({ clientId, username: userId, password: 'pw' });

t.test('open: any authenticated user watches anyone', async (t) => {
  const usersFile = await writeUsersFile(join(t.testdir(), 'users.json'), USERS);
  const { mqttUrl } = await serve(t, { usersFile, authorization: 'open' });
  const dave = await client(t, mqttUrl, as('dave'));
  t.same(await grants(dave, ['presence/user/carol', 'presence/group/g2', 'presence/user/+']), [1, 1, 1]);
  t.same(await grants(dave, ['group/anything']), [1], 'a user without a list joins any group under open');
  const alice = await client(t, mqttUrl, as('alice'));
  t.same(await grants(alice, ['group/g2', 'group/g1']), [128, 1], "but a user's allowed groups still restrict her joins");
});

t.test('shared-group: watch only users sharing a group, group presence only as a member', async (t) => {
  const usersFile = await writeUsersFile(join(t.testdir(), 'users.json'), USERS);
  const { mqttUrl, logs } = await serve(t, { usersFile, authorization: 'shared-group' });
  const alice = await client(t, mqttUrl, as('alice'));

  t.same(await grants(alice, ['presence/user/bob', 'presence/user/carol', 'presence/user/alice']), [1, 128, 1], 'bob (shares g1) and herself, not carol');
  t.same(await grants(alice, ['presence/group/g1']), [128], 'group presence before joining: denied');
  t.same(await grants(alice, ['group/g2']), [128], 'joining a group not on her list: denied');
  t.same(await grants(alice, ['group/g1']), [1], 'joining her own group');
  t.same(await grants(alice, ['presence/group/g1', 'presence/group/g2']), [1, 128], 'group presence as a member only');
  const refusals = logs.filter((l) => l.msg === 'subscription refused');
  t.ok(refusals.some((l) => l.topic === 'presence/user/carol' && /not allowed to watch this user/.test(l.reason as string)), 'a refused watch is logged');
  t.ok(refusals.some((l) => l.topic === 'group/g2' && /group not allowed/.test(l.reason as string)), 'a refused join is logged');

  t.same(await grants(alice, ['$SYS/#']), [128], '$SYS (every client id that connects) is closed under shared-group');
  const dave = await client(t, mqttUrl, as('dave'));
  t.same(await grants(dave, ['group/g1']), [128], 'under shared-group a user without a group list joins nothing');

  // Membership announcements obey the same list: the join is refused and nothing is published.
  const groupWatch = new Inbox(alice);
  await alice.publishAsync('presence/member/g2/alice', JSON.stringify({ action: 'join' }), { qos: 1, retain: true });
  t.ok(
    logs.some((l) => l.msg === 'publish refused' && l.reason === 'join refused: group not allowed for this user'),
    'a membership announcement for a group not allowed is refused',
  );
  t.same(groupWatch.unread().filter((m) => m.json.groupId === 'g2'), [], 'no g2 event came out');
});

t.test('shared-group: a wildcard watch delivers only what the policy allows', async (t) => {
  const usersFile = await writeUsersFile(join(t.testdir(), 'users.json'), USERS);
  const { server, mqttUrl } = await serve(t, { usersFile, authorization: 'shared-group' });
  const watch = await authedWatcher(t, mqttUrl, 'alice', { password: 'pw' }, ['presence/user/+', 'presence/#']);
  await watch.find((m) => m.json.id === 'alice', 'alice sees herself');
  const carol = await client(t, mqttUrl, as('carol'));
  await subscribe(carol, 'group/g2');
  await client(t, mqttUrl, as('bob'));
  const bob = await watch.find((m) => m.json.id === 'bob', 'bob online through the wildcard');
  t.equal(bob.topic, 'presence/user/bob');
  // Events leave the server in order (carol's before bob's), so anything of carol's would be here by now.
  t.same(watch.all.filter((m) => m.json.id === 'carol'), [], "carol's events (user and group) were never delivered");

  // Retained deliveries go through the same hook aedes calls for every packet it forwards; asked
  // directly for alice's real connection, it passes bob's retained event and withholds carol's.
  const { aedes } = server.broker;
  const aliceClient = (aedes as unknown as { clients: Record<string, Client> }).clients[watch.client.options.clientId!]!;
  const retained = (userId: string) =>
    ({ cmd: 'publish', topic: `presence/user/${userId}`, payload: Buffer.from('{}'), qos: 1, retain: true, dup: false, brokerId: null }) as unknown as AedesPublishPacket;
  t.ok(aedes.authorizeForward(aliceClient, retained('bob')), "bob's retained event is forwarded to alice");
  t.notOk(aedes.authorizeForward(aliceClient, retained('carol')), "carol's retained event is not");
});

t.test('shared-group: overlapping allowed-group lists let users watch each other before either has joined', async (t) => {
  const { mqttUrl } = await serve(t, { authorization: 'shared-group', usersFile: await writeUsersFile(join(t.testdir(), 'u.json'), {
    erin: { password: 'pw', groups: ['g3'] },
    frank: { password: 'pw', groups: ['g3', 'g4'] },
    gina: { password: 'pw', groups: ['g4'] },
  }) });
  const erin = await client(t, mqttUrl, as('erin'));
  // gina's list and erin's do not overlap, and neither can join the other's groups.
  t.same(await grants(erin, ['presence/user/gina']), [128]);
  const frank = await client(t, mqttUrl, as('frank'));
  t.same(await grants(frank, ['presence/user/gina', 'presence/user/erin']), [1, 1], 'frank shares g4 with gina and g3 with erin');
});

t.test('custom policy, in code and as a module named in the config', async (t) => {
  const dir0 = t.testdir();
  const usersFile = await writeUsersFile(join(dir0, 'users.json'), { ...USERS, admin: { password: 'pw' } });
  const logs: LogRecord[] = [];
  const adminsOnly: PolicyFactory = () => ({
    name: 'admins-only',
    mayWatchUser: (viewer, userId) => viewer.userId === 'admin' || viewer.userId === userId,
    mayWatchGroup: (viewer) => viewer.userId === 'admin',
  });
  const config = resolveServeConfig({ mqttPort: 0, httpPort: 0, usersFile });
  const server = await startServer(config, createLogger('debug', (l) => logs.push(JSON.parse(l) as LogRecord)), { policy: adminsOnly });
  t.teardown(() => server.close());
  const url = `mqtt://127.0.0.1:${server.mqttPort}`;
  const admin = await client(t, url, as('admin'));
  const bob = await client(t, url, as('bob'));
  t.same(await grants(admin, ['presence/user/bob', 'presence/group/g1']), [1, 1], 'admin may watch');
  t.same(await grants(bob, ['presence/user/admin', 'presence/group/g1', 'presence/user/bob']), [128, 128, 1], 'bob only himself');
  t.ok(logs.some((l) => l.msg === 'subscription refused' && /admins-only policy/.test(l.reason as string)), 'the custom policy is named in refusals');

  writeFileSync(join(dir0, 'policy.mjs'), `export default () => ({ name: 'nobody', mayWatchUser: () => false, mayWatchGroup: () => false });`);
  const dir = dir0;
  const { mqttUrl } = await serve(t, { usersFile, authorizationModule: join(dir, 'policy.mjs') });
  const alice = await client(t, mqttUrl, as('alice'));
  t.same(await grants(alice, ['presence/user/bob', 'other/topic']), [128, 1], 'the module policy decides; other topics are not its business');
  // A policy that throws denies and is logged; the broker and the connection carry on.
  writeFileSync(join(dir, 'throws.mjs'), `export default () => ({ name: 'buggy', mayWatchUser: () => { throw new Error('boom'); }, mayWatchGroup: () => true });`);
  const buggy = await serve(t, { usersFile, authorizationModule: join(dir, 'throws.mjs') });
  const eve = await client(t, buggy.mqttUrl, as('alice'));
  t.same(await grants(eve, ['presence/user/bob', 'presence/user/+']), [128, 1], 'a throwing policy denies the exact watch');
  await client(t, buggy.mqttUrl, as('bob'));
  // Once at SUBSCRIBE, once more when bob's online is offered to the wildcard: wait for that second one.
  const failures = () => buggy.logs.filter((l) => l.msg === 'watch policy failed; denying' && l.target === 'bob' && l.error === 'boom').length;
  const deadline = Date.now() + WAIT_MS;
  while (failures() < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  t.equal(failures(), 2, 'the failure on delivery is logged');
  await eve.publishAsync('chat/x', 'still alive', { qos: 1 });
  t.ok(eve.connected, 'the connection survived the delivery the policy threw on');

  writeFileSync(join(dir, 'bad.mjs'), 'export const x = 1;');
  await t.rejects(serve(t, { usersFile, authorizationModule: join(dir, 'bad.mjs') }), /must export a policy factory/);
});

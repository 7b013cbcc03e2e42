/**
 * The policy's membership mirror (src/auth/policy.ts `Membership`) holds the cluster's memberships on
 * every node (src/store/membership-feed.ts): the shared-group policy and the join caps count joins and
 * leaves made on any node, and a node starting later loads what Redis holds. Real `serve --redis`
 * processes on one real redis-server.
 */
import { join } from 'node:path';
import t from 'tap';
import { grants, writeUsersFile } from '../fixtures/auth.js';
import { startNode } from '../fixtures/cluster.js';
import { client, Inbox, subscribe, watcher } from '../fixtures/mqtt.js';
import { startRedis } from '../fixtures/redis.js';

const NODE_TIMEOUT = 2000;
const USERS = { ann: { password: 'pw-ann', groups: ['g'] }, bob: { password: 'pw-bob', groups: ['g'] } };
const creds = (user: keyof typeof USERS) => ({ username: user, password: USERS[user].password });

t.test("shared-group: a join or a leave made on another node decides who may watch a group here", async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  // Both may join g; watching g's events needs current membership (no allowed-list fallback).
  const usersFile = await writeUsersFile(join(t.testdir(), 'users.json'), USERS);
  const policy = ['--authorization', 'shared-group', '--users-file', usersFile];
  const [a, b] = await Promise.all([startNode(t, redis, 'A', NODE_TIMEOUT, policy), startNode(t, redis, 'B', NODE_TIMEOUT, policy)]);

  // bob is a member of g (on A) and watches g's events on A.
  const bobDev = await client(t, a.mqtt, { clientId: 'bob-dev', ...creds('bob') });
  t.same(await subscribe(bobDev, 'group/g'), [1], 'bob joins g on A');
  const bobWatch = await client(t, a.mqtt, { clientId: 'bob-watch', ...creds('bob') });
  const groupEvents = new Inbox(bobWatch);
  t.same(await subscribe(bobWatch, 'presence/group/g'), [1], "bob (a member) watches g's events on A");
  const joinOrLeave = (id: string, action: string) => groupEvents.find((m) => m.json.id === id && m.json.action === action, `${id} ${action} seen on A`);
  const annMayWatchG = async (clientId: string) => {
    const c = await client(t, a.mqtt, { clientId, ...creds('ann') });
    const granted = await grants(c, 'presence/group/g');
    c.end(true);
    return granted;
  };

  // ann joins g on B: once A has seen the join, she may watch g there (it was refused: a false deny).
  const annB = await client(t, b.mqtt, { clientId: 'ann-b', ...creds('ann') });
  await subscribe(annB, 'group/g');
  await joinOrLeave('ann', 'join');
  t.same(await annMayWatchG('ann-check-1'), [1], 'ann, who joined g on B, may watch g on A');

  // ann leaves g on B: A refuses the watch again.
  await annB.unsubscribeAsync('group/g');
  await joinOrLeave('ann', 'leave');
  t.same(await annMayWatchG('ann-check-2'), [128], 'after her leave on B, ann may no longer watch g on A');

  // ann joins on A and leaves on B: A must not keep believing she is a member (it did: a leak).
  const annA = await client(t, a.mqtt, { clientId: 'ann-a', ...creds('ann') });
  await subscribe(annA, 'group/g');
  await joinOrLeave('ann', 'join');
  t.same(await annMayWatchG('ann-check-3'), [1], 'ann joined g on A: she may watch g');
  await subscribe(annB, 'group/g'); // already a member: no event
  await annB.unsubscribeAsync('group/g');
  await joinOrLeave('ann', 'leave');
  t.same(await annMayWatchG('ann-check-4'), [128], 'ann left g on B: A refuses her the watch');
});

t.test('join caps count the joins of every node, and a node starting later loads them from Redis', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  const caps = ['--max-groups-per-user', '2', '--max-members-per-group', '2'];
  const [a, b] = await Promise.all([startNode(t, redis, 'A', NODE_TIMEOUT, caps), startNode(t, redis, 'B', NODE_TIMEOUT, caps)]);
  const onB = await watcher(t, b.mqtt, ['presence/group/+']);

  const annA = await client(t, a.mqtt, { clientId: 'ann-a', username: 'ann' });
  t.same(await subscribe(annA, ['group/g1', 'group/g2']), [1, 1], 'ann joins g1 and g2 on A');
  await onB.find((m) => m.json.id === 'ann' && m.json.groupId === 'g1' && m.json.action === 'join', 'join g1 seen on B');
  await onB.find((m) => m.json.id === 'ann' && m.json.groupId === 'g2' && m.json.action === 'join', 'join g2 seen on B');
  const annB = await client(t, b.mqtt, { clientId: 'ann-b', username: 'ann' });
  t.same(await subscribe(annB, 'group/g3'), [128], 'a third group on B is over the per-user cap of 2');

  const bobB = await client(t, b.mqtt, { clientId: 'bob-b', username: 'bob' });
  t.same(await subscribe(bobB, 'group/g1'), [1], 'bob joins g1 on B (2 members)');
  await onB.find((m) => m.json.id === 'bob' && m.json.action === 'join', 'bob join seen on B');

  // A node started now knows the memberships from Redis (its mirror was empty before).
  const c = await startNode(t, redis, 'C', NODE_TIMEOUT, caps);
  const annC = await client(t, c.mqtt, { clientId: 'ann-c', username: 'ann' });
  t.same(await subscribe(annC, 'group/g4'), [128], 'on a node started later, ann is still at her cap');
  const carolC = await client(t, c.mqtt, { clientId: 'carol-c', username: 'carol' });
  t.same(await subscribe(carolC, 'group/g1'), [128], 'on a node started later, g1 is still full');

  // A leave on B frees the place on C.
  const onC = new Inbox(await client(t, c.mqtt, { clientId: 'watch-c' }));
  await subscribe(onC.client, 'presence/group/+');
  await annA.unsubscribeAsync('group/g1');
  await onC.find((m) => m.json.id === 'ann' && m.json.groupId === 'g1' && m.json.action === 'leave', 'ann leaves g1, seen on C');
  t.same(await subscribe(carolC, 'group/g1'), [1], 'a place in g1 freed on A is free on C');
});

t.test('a reconnect of the node subscriber loads the memberships again (pub/sub drops what it cannot deliver)', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  const a = await startNode(t, redis, 'A', NODE_TIMEOUT, ['--max-groups-per-user', '2']);
  const loads = () => a.cli.lines.filter((l) => l.msg === 'cluster: membership mirror loaded from Redis').length;
  t.equal(loads(), 1, 'loaded once at start');
  const ann = await client(t, a.mqtt, { clientId: 'ann-a', username: 'ann' });
  t.same(await subscribe(ann, 'group/g1'), [1], 'ann joins g1');

  // A join made elsewhere whose message A never got: written to the store as a node would commit it.
  const admin = redis.client();
  const key = 'presence:u:ann';
  const [json, version] = await admin.hmget(key, 'r', 'v');
  const record = JSON.parse(json!) as { seq: number; groups: string[] };
  await admin.hset(key, 'r', JSON.stringify({ ...record, seq: record.seq + 1, groups: [...record.groups, 'g2'] }), 'v', String(Number(version) + 1));
  await admin.sadd('presence:g:g2:m', 'ann');

  t.ok(Number(await admin.client('KILL', 'TYPE', 'pubsub')) >= 1, "the node's subscriber connection dropped");
  const deadline = Date.now() + 10_000;
  while (loads() < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  t.equal(loads(), 2, 'loaded again after the reconnect');
  t.same(await subscribe(ann, 'group/g3'), [128], 'the reload counts g2: a third group is over the cap');
});

t.test('interval mode: joins kept for the interval leader still reach every node\'s mirror', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  const extra = ['--announce-max', '2', '--interval-ms', '500', '--max-members-per-group', '4'];
  const [a, b] = await Promise.all([startNode(t, redis, 'A', NODE_TIMEOUT, extra), startNode(t, redis, 'B', NODE_TIMEOUT, extra)]);
  const onB = new Inbox(await client(t, b.mqtt, { clientId: 'watch-b' }));
  await subscribe(onB.client, 'presence/group/big');
  const reported = new Set<string>();
  let intervals = 0;
  const members = ['u1', 'u2', 'u3', 'u4'];
  for (const id of members) {
    const c = await client(t, a.mqtt, { clientId: id, username: id });
    t.same(await subscribe(c, 'group/big'), [1], `${id} joins on A`);
  }
  while (members.some((id) => !reported.has(id))) {
    const m = await onB.next('the joins, per member or in intervals, on B');
    if (m.json.action === 'interval') {
      intervals++;
      for (const id of (m.json.joined as string[] | undefined) ?? []) reported.add(id);
    } else if (m.json.action === 'join') reported.add(String(m.json.id));
  }
  t.ok(intervals >= 1, 'some joins were only in interval events');
  const late = await client(t, b.mqtt, { clientId: 'u5', username: 'u5' });
  t.same(await subscribe(late, 'group/big'), [128], 'the group is full on B too');
});

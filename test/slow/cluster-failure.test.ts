/**
 * Cluster failure behaviour with real processes on one real redis-server: node death (kill -9),
 * restart of every node, Redis paused (contract: "Scaling out and durability (Redis)").
 */
import t, { type Test } from 'tap';
import { getJson, startNode } from '../fixtures/cluster.js';
import { client, Inbox, refusedCode, subscribe, watcher, WAIT_MS } from '../fixtures/mqtt.js';
import { startRedis } from '../fixtures/redis.js';

const NODE_TIMEOUT = 2000;

/** A client subscribed to every user and group event, retained records included. */
async function anyWatcher(t: Test, url: string, clientId: string): Promise<Inbox> {
  const inbox = new Inbox(await client(t, url, { clientId }));
  await subscribe(inbox.client, ['presence/user/+', 'presence/group/+']);
  return inbox;
}

async function until(check: () => Promise<boolean>, label: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

t.test('kill -9 A: users only on A go offline with node_down, once; users also on B stay online', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  const [a, b] = await Promise.all([startNode(t, redis, 'A', NODE_TIMEOUT), startNode(t, redis, 'B', NODE_TIMEOUT)]);
  const watch = await watcher(t, b.mqtt);
  const erin = await client(t, a.mqtt, { clientId: 'erin-1', username: 'erin' });
  t.match((await watch.next('erin online')).json, { id: 'erin', action: 'online' });
  await subscribe(erin, 'group/ops');
  t.match((await watch.next('erin joins')).json, { groupId: 'ops', action: 'join', groupOnlineCount: 1 });
  await client(t, a.mqtt, { clientId: 'frank-a', username: 'frank' });
  t.match((await watch.next('frank online')).json, { id: 'frank', action: 'online' });
  await client(t, b.mqtt, { clientId: 'frank-b', username: 'frank' });
  // gina moves from A to B under one client id, then A dies: she stays online.
  const gina = await client(t, a.mqtt, { clientId: 'gina-1', username: 'gina' });
  gina.on('close', () => {});
  t.match((await watch.next('gina online')).json, { id: 'gina', action: 'online' });
  await client(t, b.mqtt, { clientId: 'gina-1', username: 'gina' });

  const killedAt = Date.now();
  await a.crash();
  const offline = await watch.next('erin offline after A died');
  const took = Date.now() - killedAt;
  t.match(offline.json, { id: 'erin', action: 'offline', reason: 'node_down' });
  t.match((await watch.next('erin offline in ops')).json, { groupId: 'ops', id: 'erin', action: 'offline', reason: 'node_down', groupOnlineCount: 0 });
  t.comment(`node death -> offline: ${took} ms (node timeout ${NODE_TIMEOUT} ms)`);
  // Goal: node-timeout + 1 s; the margin covers a loaded machine's scheduling.
  t.ok(took <= NODE_TIMEOUT + 1000 + 1500, `offline within node-timeout + 1 s (+ margin): ${took} ms`);

  // Nothing else: a marker after the death is the next event.
  await client(t, b.mqtt, { clientId: 'marker', username: 'marker' });
  t.match((await watch.next('the marker')).json, { id: 'marker', action: 'online' }, 'frank and gina stay online, nothing repeated');
  t.match((await getJson(b, '/v1/users/frank')).body, { online: true });
  t.match((await getJson(b, '/v1/users/gina')).body, { online: true });
  const stats = await (await fetch(`${b.http}/metrics`)).text();
  t.match(stats, /presence_cluster_nodes 1/, 'one node left');
});

t.test('stop every node, start again: memberships, data, retained records, persistent sessions kept; crashed connections end with node_down', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  let [a, b] = await Promise.all([startNode(t, redis, 'A', NODE_TIMEOUT), startNode(t, redis, 'B', NODE_TIMEOUT)]);
  const will = { topic: 'presence/conn/hana/hana-1', payload: Buffer.from(JSON.stringify({ action: 'offline', data: { name: 'Hana' } })), qos: 1 as const, retain: true };
  const hana = await client(t, a.mqtt, { clientId: 'hana-1', username: 'hana', clean: false, will });
  await subscribe(hana, 'group/crew');
  const ivan = await client(t, b.mqtt, { clientId: 'ivan-1', username: 'ivan' });
  await subscribe(ivan, 'group/crew');
  await until(async () => (await getJson(b, '/v1/groups/crew')).body.onlineCount === 2, 'both in crew');
  await hana.endAsync();
  await until(async () => (await getJson(b, '/v1/groups/crew')).body.onlineCount === 1, 'hana offline');
  // While hana is away, a message for her persistent session.
  await ivan.publishAsync('group/crew', 'for hana', { qos: 1 });
  await Promise.all([a.stop(), b.stop()]);

  [a, b] = await Promise.all([startNode(t, redis, 'A', NODE_TIMEOUT), startNode(t, redis, 'B', NODE_TIMEOUT)]);
  const crew = (await getJson(b, '/v1/groups/crew')).body;
  t.match(crew, { total: 2, onlineCount: 0 }, 'memberships kept, nobody online');
  const hanaRecord = (await getJson(a, '/v1/users/hana')).body;
  t.match(hanaRecord, { online: false, data: { name: 'Hana' } }, 'user data kept');
  // lastSeen is stored with the user (the queries that return it are docs/api.md's business).
  const stored = JSON.parse((await redis.client().hget('presence:u:hana', 'r')) ?? '{}') as { lastSeen?: number };
  t.ok(typeof stored.lastSeen === 'number' && stored.lastSeen <= Date.now(), `lastSeen kept: ${stored.lastSeen}`);
  const late = await client(t, b.mqtt, { clientId: 'late' });
  const lateInbox = new Inbox(late);
  await subscribe(late, ['presence/user/hana', 'presence/user/ivan']);
  const records = [await lateInbox.next('a retained record'), await lateInbox.next('another retained record')];
  t.match(Object.fromEntries(records.map((r) => [r.json.id, r.json])), {
    hana: { action: 'offline', reason: 'disconnect' },
    ivan: { action: 'offline', reason: 'server_shutdown' },
  }, 'retained records kept');
  // The persistent session: hana comes back without subscribing and gets what was queued.
  const back = await client(t, b.mqtt, { clientId: 'hana-1', username: 'hana', clean: false });
  const backInbox = new Inbox(back);
  t.equal((await backInbox.next('the queued message')).payload.toString(), 'for hana', 'the session queue survived');
  await until(async () => (await getJson(a, '/v1/groups/crew')).body.onlineCount === 1, 'hana online again in crew (session restored)');

  // Crash both nodes with connections open; start one: every connection ends with node_down.
  // (Redis holds retained records of earlier users now: watchers read past them with `find`.)
  const watch = await anyWatcher(t, a.mqtt, 'w1');
  await client(t, a.mqtt, { clientId: 'jo-1', username: 'jo' });
  await watch.find((m) => m.json.id === 'jo' && m.json.action === 'online' && !m.retain, 'jo online');
  await Promise.all([a.crash(), b.crash()]);
  a = await startNode(t, redis, 'A', NODE_TIMEOUT);
  const watch2 = await anyWatcher(t, a.mqtt, 'w2');
  // hana (on B, which stays down) is ended by A once A has been healthy for a node timeout.
  t.match((await watch2.find((m) => m.topic === 'presence/user/hana' && !m.retain, 'hana ended')).json, { action: 'offline', reason: 'node_down' });
  const jo = new Inbox(await client(t, a.mqtt, { clientId: 'jo-check' }));
  await subscribe(jo.client, 'presence/user/jo');
  t.match((await jo.next("jo's retained record")).json, { action: 'offline', reason: 'node_down' }, 'A reaped its own previous life at start');
});

t.test('Redis paused: /healthz 503 and CONNACK 3 while away, healthy again after, state = truth', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  const [a, b] = await Promise.all([startNode(t, redis, 'A', NODE_TIMEOUT), startNode(t, redis, 'B', NODE_TIMEOUT)]);
  await client(t, a.mqtt, { clientId: 'kim-1', username: 'kim' });
  await until(async () => (await getJson(b, '/v1/users/kim')).body.online === true, 'kim online');
  redis.pause();
  try {
    await until(async () => (await fetch(`${a.http}/healthz`)).status === 503, 'A 503');
    await until(async () => (await fetch(`${b.http}/healthz`)).status === 503, 'B 503');
    t.equal(await refusedCode(a.mqtt, { clientId: 'refused-1', username: 'lee' }), 3, 'CONNACK 3 (server unavailable)');
  } finally {
    redis.resume();
  }
  await until(async () => (await fetch(`${a.http}/healthz`)).status === 200, 'A healthy again');
  await until(async () => (await fetch(`${b.http}/healthz`)).status === 200, 'B healthy again');
  await client(t, b.mqtt, { clientId: 'lee-1', username: 'lee' });
  await until(async () => (await getJson(a, '/v1/users/lee')).body.online === true, 'lee online after');
  // Wait past a node timeout: nobody declares anybody down after the pause; kim is still online.
  await new Promise((resolve) => setTimeout(resolve, NODE_TIMEOUT * 1.5));
  t.match((await getJson(a, '/v1/users/kim')).body, { online: true }, 'kim still online');
  t.match((await getJson(b, '/v1/users/lee')).body, { online: true }, 'lee still online');
});

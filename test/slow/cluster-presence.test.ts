/**
 * Several real `serve --redis` processes on one real redis-server behave as one broker
 * (contract: "Scaling out and durability (Redis)"; issue #10, "Must be right").
 */
import t from 'tap';
import { getJson, startNode } from '../fixtures/cluster.js';
import { client, Inbox, subscribe, watcher } from '../fixtures/mqtt.js';
import { querier } from '../fixtures/query.js';
import { startRedis } from '../fixtures/redis.js';

const NODE_TIMEOUT = 2000;

t.test('two nodes, one broker: events once, messages, retained, devices, groups, queries, cross-node takeover', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  const [a, b] = await Promise.all([startNode(t, redis, 'A', NODE_TIMEOUT), startNode(t, redis, 'B', NODE_TIMEOUT)]);

  // A watcher on B sees a client on A, once.
  const watch = await watcher(t, b.mqtt);
  let aliceCopies = 0;
  watch.client.on('message', (topic, payload) => {
    if (topic === 'presence/user/alice' && JSON.parse(payload.toString()).action === 'online') aliceCopies++;
  });
  const phone = await client(t, a.mqtt, { clientId: 'alice-phone', username: 'alice' });
  t.match((await watch.next('alice online, seen on B')).json, { action: 'online', id: 'alice' });

  // A plain message published on A reaches a subscriber on B.
  const listener = await client(t, b.mqtt, { clientId: 'chat-listener' });
  const chat = new Inbox(listener);
  await subscribe(listener, 'chat/room');
  await watch.find((m) => m.json.id === 'chat-listener', 'the listener online');
  await phone.publishAsync('chat/room', 'hello from A', { qos: 1 });
  t.equal((await chat.next('the message on B')).payload.toString(), 'hello from A');

  // A new subscriber on B gets the retained state of a user on A.
  const late = await client(t, b.mqtt, { clientId: 'late' });
  const lateInbox = new Inbox(late);
  await subscribe(late, 'presence/user/alice');
  const retained = await lateInbox.next('the retained record of alice');
  t.match(retained, { retain: true, json: { action: 'online', id: 'alice' } });
  await watch.find((m) => m.json.id === 'late', 'late online');

  // Devices on A and B: online once, no offline until the last device ends, then offline once.
  const laptop = await client(t, b.mqtt, { clientId: 'alice-laptop', username: 'alice' });
  await new Promise<void>((resolve) => phone.end(false, {}, () => resolve()));
  // A marker proves nothing about alice came in between.
  await client(t, a.mqtt, { clientId: 'marker-1', username: 'marker1' });
  t.match((await watch.next('marker1 online')).json, { id: 'marker1', action: 'online' }, 'no alice event while a device is left');
  await new Promise<void>((resolve) => laptop.end(false, {}, () => resolve()));
  t.match((await watch.next('alice offline')).json, { id: 'alice', action: 'offline', reason: 'disconnect' });
  t.equal(aliceCopies, 1, 'the online arrived once on B');

  // Joins on A and B: counts 1 then 2; HTTP and MQTT queries on either node list both.
  const bob = await client(t, a.mqtt, { clientId: 'bob-1', username: 'bob' });
  t.match((await watch.next('bob online')).json, { id: 'bob', action: 'online' });
  const carol = await client(t, b.mqtt, { clientId: 'carol-1', username: 'carol' });
  t.match((await watch.next('carol online')).json, { id: 'carol', action: 'online' });
  await subscribe(bob, 'group/g');
  t.match((await watch.next('bob joins')).json, { groupId: 'g', action: 'join', id: 'bob', groupOnlineCount: 1 });
  await subscribe(carol, 'group/g');
  t.match((await watch.next('carol joins')).json, { groupId: 'g', action: 'join', id: 'carol', groupOnlineCount: 2 });
  for (const node of [a, b]) {
    const { body } = await getJson(node, '/v1/groups/g');
    t.match(body, { total: 2, onlineCount: 2 }, `GET /v1/groups/g on ${node.id}`);
    t.strictSame((body.members as { id: string }[]).map((m) => m.id).sort(), ['bob', 'carol']);
    const q = await querier(t, node.mqtt, { clientId: `q-${node.id}` });
    await watch.find((m) => m.json.id === `q-${node.id}`, 'querier online');
    const { counts } = await q.result<{ counts: Record<string, number> }>('groupOnlineCount', { groupIds: ['g'] });
    t.match(counts, { g: 2 }, `groupOnlineCount over MQTT on ${node.id}`);
    const where = await q.result<unknown>('whereNow', { userId: 'carol' });
    t.match(JSON.stringify(where), /"g"/, `whereNow over MQTT on ${node.id}`);
  }

  // The same client id moving from A to B: no offline/online pair.
  const dave = await client(t, a.mqtt, { clientId: 'dave-1', username: 'dave' });
  t.match((await watch.next('dave online')).json, { id: 'dave', action: 'online' });
  dave.on('close', () => {});
  await client(t, b.mqtt, { clientId: 'dave-1', username: 'dave' });
  // The old node defers the old connection's end by a hand-off window (<= 2 s); wait it out, then a marker.
  await new Promise((resolve) => setTimeout(resolve, 2500));
  await client(t, a.mqtt, { clientId: 'marker-2', username: 'marker2' });
  t.match((await watch.next('marker2 online')).json, { id: 'marker2', action: 'online' }, 'no offline/online pair for dave');
  const daveNow = await getJson(a, '/v1/users/dave');
  t.match(daveNow.body, { online: true }, 'dave online after moving');

  const metrics = await (await fetch(`${a.http}/metrics`)).text();
  t.match(metrics, /presence_users_online \d+/, 'cluster-wide figures');
  t.match(metrics, /presence_node_connections \d+/, "this node's figures");
  t.match(metrics, /presence_cluster_nodes 2/, 'both nodes alive');
});

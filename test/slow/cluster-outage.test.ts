/**
 * What a cluster node does with memberships and held-back offlines when Redis or a node fails, with real
 * `serve` processes on one real redis-server (docs/cluster.md, "Failure behaviour"):
 * - Redis paused: a SUBSCRIBE to a group is refused (SUBACK 0x80) and leaves nothing behind; an
 *   UNSUBSCRIBE, which MQTT 3.1.1 cannot refuse, is kept and applied once Redis is back, also when its
 *   connection ended before Redis answered;
 * - a grace-window offline held back by a node that dies is announced by the survivor, once, with the
 *   reason its connection ended, when the window runs out.
 */
import mqttPacket, { type Packet } from 'mqtt-packet';
import t from 'tap';
import { getJson, startNode } from '../fixtures/cluster.js';
import { client, Inbox, refusedCode, subscribe, watcher, WAIT_MS } from '../fixtures/mqtt.js';
import { RawClient } from '../fixtures/raw.js';
import { startRedis } from '../fixtures/redis.js';

const NODE_TIMEOUT = 2000;

async function until(check: () => Promise<boolean>, label: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** `promise`, or a rejection naming `label` after WAIT_MS. */
function within<T>(promise: Promise<T>, label: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${label}`)), WAIT_MS)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Waits until every user in `ids` is online, as `node` answers. */
async function online(node: { http: string }, ids: string[]): Promise<void> {
  for (const id of ids) await until(async () => (await getJson(node, `/v1/users/${id}`)).body.online === true, `${id} online`);
}

/** Several packets in one write: the broker reads them in one batch, as a client hanging up right after. */
function sendTogether(raw: RawClient, packets: Packet[]): void {
  raw.socket.write(Buffer.concat(packets.map((p) => mqttPacket.generate(p))));
}

t.test('Redis paused: SUBSCRIBE to a group refused with 0x80, nothing recorded; UNSUBSCRIBEs kept and applied when Redis is back', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  const [a, b] = await Promise.all([startNode(t, redis, 'A', NODE_TIMEOUT), startNode(t, redis, 'B', NODE_TIMEOUT)]);
  const watch = await watcher(t, b.mqtt, ['presence/group/+']);
  const aPort = Number(new URL(a.mqtt).port);
  // cal: a persistent session that stays connected; dee: persistent, eve: clean, both hang up right
  // behind their UNSUBSCRIBE (eve is the only subscriber of her filter on A: aedes waits on Redis for it).
  // Everyone is online before joining, so the group sees joins only.
  const cal = await client(t, a.mqtt, { clientId: 'cal-1', username: 'cal', clean: false });
  const dee = await RawClient.open(t, aPort);
  t.equal(await dee.connect({ clientId: 'dee-1', username: 'dee', clean: false }), 0);
  const eve = await RawClient.open(t, aPort);
  t.equal(await eve.connect({ clientId: 'eve-1', username: 'eve' }), 0);
  const fay = await client(t, a.mqtt, { clientId: 'fay-1', username: 'fay' });
  const gus = await client(t, a.mqtt, { clientId: 'gus-1', username: 'gus', clean: false });
  await online(b, ['cal', 'dee', 'eve', 'fay', 'gus']);
  await subscribe(cal, 'group/x');
  dee.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'group/x', qos: 1 }] });
  await dee.waitFor((p) => p.cmd === 'suback', "dee's SUBACK");
  eve.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'group/x/eve', qos: 1 }] });
  await eve.waitFor((p) => p.cmd === 'suback', "eve's SUBACK");
  await subscribe(fay, 'group/x');
  for (let i = 0; i < 4; i++) t.match((await watch.next('a join of x')).json, { groupId: 'x', action: 'join', groupOnlineCount: i + 1 });

  redis.pause();
  let gusGranted: Promise<number[]> | undefined;
  try {
    await until(async () => (await fetch(`${a.http}/healthz`)).status === 503, 'A 503');
    const refused = await within(subscribe(fay, 'group/x/more'), 'a SUBACK while Redis is paused').catch((error: Error) => error.message);
    t.same(refused, [128], 'SUBSCRIBE to a group while unhealthy: 0x80 at once');
    // A persistent session asking for a group and something else: the group is refused and not stored.
    gusGranted = subscribe(gus, ['group/z', 'news/gus']);
    void cal.unsubscribeAsync('group/x').catch(() => {});
    sendTogether(dee, [{ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['group/x'] }, { cmd: 'disconnect' }]);
    sendTogether(eve, [{ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['group/x/eve'] }, { cmd: 'disconnect' }]);
    await until(async () => (await fetch(`${b.http}/healthz`)).status === 503, 'B 503');
    t.equal(await refusedCode(a.mqtt, { clientId: 'hal-1', username: 'hal' }), 3, 'CONNACK 3 meanwhile');
  } finally {
    redis.resume();
  }
  await until(async () => (await fetch(`${a.http}/healthz`)).status === 200, 'A healthy again');
  t.same(await within(gusGranted!, "gus's SUBACK"), [128, 1], "gus's group refused, his other filter granted");

  // Each UNSUBSCRIBE is a leave, once, before its connection's offline; nothing joined. A marker's join
  // comes right after.
  const leaves = new Set<string>();
  for (let i = 0; i < 3; i++) {
    const event = (await watch.next('a leave of x')).json;
    t.match(event, { groupId: 'x', action: 'leave' }, `${String(event.id)} left x`);
    leaves.add(String(event.id));
  }
  t.same([...leaves].sort(), ['cal', 'dee', 'eve'], 'cal, dee and eve left x');
  const marker = await client(t, b.mqtt, { clientId: 'marker-1', username: 'marker' });
  await online(a, ['marker']);
  await subscribe(marker, 'group/x');
  t.match((await watch.next("the marker's join")).json, { groupId: 'x', id: 'marker', action: 'join', groupOnlineCount: 2 }, 'nothing else: fay and marker online in x');
  t.match((await getJson(a, '/v1/groups/x?limit=10')).body, { total: 2, members: [{ id: 'fay' }, { id: 'marker' }] });
  t.equal((await getJson(b, '/v1/groups/z')).status, 404, 'nobody in z');

  // gus's session does not hold the refused filter: coming back restores no membership of z.
  await gus.endAsync();
  const back = await client(t, b.mqtt, { clientId: 'gus-1', username: 'gus', clean: false });
  await online(a, ['gus']);
  await subscribe(back, 'group/y');
  t.match((await watch.next("gus's join of y")).json, { groupId: 'y', id: 'gus', action: 'join' }, 'no join of z came first');
  t.same((await getJson(a, '/v1/users/gus/groups')).body, { userId: 'gus', groups: ['y'] });
});

t.test('--grace: an offline held back by a node that dies is announced by the survivor, once, with its reason', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  // The window outlasts the node timeout, so the survivor holds the rest of it itself.
  const GRACE = 4000;
  const grace = ['--grace', String(GRACE)];
  const [a, b] = await Promise.all([startNode(t, redis, 'A', NODE_TIMEOUT, grace), startNode(t, redis, 'B', NODE_TIMEOUT, grace)]);
  const watch = await watcher(t, b.mqtt);
  const hal = await client(t, a.mqtt, { clientId: 'hal-1', username: 'hal' });
  t.match((await watch.next('hal online')).json, { id: 'hal', action: 'online' });
  await subscribe(hal, 'group/ops');
  t.match((await watch.next('hal joins ops')).json, { groupId: 'ops', action: 'join' });
  const ida = await client(t, a.mqtt, { clientId: 'ida-1', username: 'ida' });
  t.match((await watch.next('ida online')).json, { id: 'ida', action: 'online' });

  const ended = Date.now();
  await Promise.all([hal.endAsync(), ida.endAsync()]);
  // Both offlines are held back by A (its grace window); A dies before the window ends.
  await until(async () => (await getJson(b, '/v1/users/hal')).status === 200, 'hal known');
  await until(async () => Number((await redis.client().hlen('presence:n:A:c')) ?? 0) === 0, "A's connections ended (held back)");
  await a.crash();
  // ida comes back on B within the window: her offline is dropped, nothing is announced for her.
  await client(t, b.mqtt, { clientId: 'ida-1', username: 'ida' });

  const offline = (await watch.next("hal's offline")).json;
  t.match(offline, { id: 'hal', action: 'offline', reason: 'disconnect' }, 'announced by the survivor with the reason his connection ended');
  t.ok(Number(offline.time) >= ended + GRACE, `not before the grace window ran out (${Number(offline.time) - ended} ms after he left)`);
  t.match((await watch.next("hal's offline in ops")).json, { groupId: 'ops', id: 'hal', action: 'offline', reason: 'disconnect', groupOnlineCount: 0 });
  await client(t, b.mqtt, { clientId: 'marker-1', username: 'marker' });
  t.match((await watch.next('the marker')).json, { id: 'marker', action: 'online' }, 'nothing else: no repeat, no offline for ida');
  t.match((await getJson(b, '/v1/users/ida')).body, { online: true });
  t.match((await getJson(b, '/v1/users/hal')).body, { online: false });
});

t.test('Redis down for longer than a Redis client retries: a leave made meanwhile waits for it and is applied', async (t) => {
  const redis = await startRedis(t, { durable: true });
  if (!redis) return;
  const a = await startNode(t, redis, 'A', NODE_TIMEOUT);
  const watch = await watcher(t, a.mqtt, ['presence/group/+']);
  const kim = await client(t, a.mqtt, { clientId: 'kim-1', username: 'kim' });
  const lou = await client(t, a.mqtt, { clientId: 'lou-1', username: 'lou' });
  await online(a, ['kim', 'lou']);
  // lou keeps group/x subscribed on A, so aedes answers kim's UNSUBSCRIBE without Redis: only the leave waits.
  await subscribe(lou, 'group/x');
  await subscribe(kim, 'group/x');
  for (let i = 0; i < 2; i++) t.match((await watch.next('a join of x')).json, { groupId: 'x', action: 'join' });
  await redis.down();
  try {
    await until(async () => (await fetch(`${a.http}/healthz`)).status === 503, 'A 503');
    await within(kim.unsubscribeAsync('group/x'), 'the UNSUBACK');
    // The outage itself is what is tested: longer than ioredis' default retries (20 reconnects, ~21 s
    // with the node's back-off), after which it used to fail the commands it held, and the leave with them.
    await new Promise((resolve) => setTimeout(resolve, 25_000));
  } finally {
    await redis.up();
  }
  await until(async () => (await fetch(`${a.http}/healthz`)).status === 200, 'A healthy again');
  t.match((await watch.next("kim's leave")).json, { groupId: 'x', id: 'kim', action: 'leave', groupOnlineCount: 1 });
  t.match((await getJson(a, '/v1/groups/x?limit=10')).body, { total: 1, members: [{ id: 'lou', online: true }] });
  t.match((await getJson(a, '/v1/users/kim')).body, { online: true }, 'kim stays connected and online');
});

t.test("a node's Redis subscriber reconnecting: what it publishes meanwhile is held and delivered, in order", async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  const a = await startNode(t, redis, 'A', NODE_TIMEOUT);
  const watch = await watcher(t, a.mqtt);
  const admin = redis.client();
  // Only the pub/sub connections drop (as after a network blip or a Redis restart, where the publishing
  // connection may come back first): the node stays healthy and goes on publishing. Redis forwards a
  // PUBLISH only to the subscribers it has at that moment, so what it publishes before its subscriber
  // has subscribed again reaches nobody unless the node holds it back until then.
  const killed = await admin.client('KILL', 'TYPE', 'pubsub');
  t.ok(Number(killed) >= 1, `the node's subscriber connection dropped (${String(killed)})`);
  const ids = ['jan', 'kai', 'lea', 'max', 'ned'];
  for (const id of ids) void client(t, a.mqtt, { clientId: `${id}-1`, username: id });
  const seen: string[] = [];
  for (let i = 0; i < ids.length; i++) {
    const event = (await watch.next('an online')).json;
    t.match(event, { action: 'online' });
    seen.push(String(event.id));
  }
  t.same([...seen].sort(), ids, 'every online published while the subscriber was away arrived');
  const again = await admin.client('KILL', 'TYPE', 'pubsub');
  t.ok(Number(again) >= 1, 'dropped again');
  const ned = await client(t, a.mqtt, { clientId: 'ned-2', username: 'ned' });
  await subscribe(ned, 'group/x');
  await ned.unsubscribeAsync('group/x');
  // ned's second connection (no online: ned-1 holds him online) joins x and leaves it; a marker closes the run.
  await client(t, a.mqtt, { clientId: 'oto-1', username: 'oto' });
  t.match((await watch.next("ned's join")).json, { groupId: 'x', id: 'ned', action: 'join', groupOnlineCount: 1 });
  t.match((await watch.next("ned's leave")).json, { groupId: 'x', id: 'ned', action: 'leave', groupOnlineCount: 0 });
  t.match((await watch.next('the marker')).json, { id: 'oto', action: 'online' }, 'nothing lost, nothing repeated, in order');
});

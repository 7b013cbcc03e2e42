/**
 * Data updates (PRODUCT.md "Data updates (both modes)") with real MQTT clients against serve and
 * attach: a device following the announcement protocol by hand publishes
 * `{"action":"update","data":...,"epoch":...}` on its own announcement topic; a watcher reads the
 * events. "Nothing emitted" is proved by a marker update afterwards being the very next event.
 */
import t from 'tap';
import { device, type Device } from './fixtures/announce.js';
import { forEachMode, type Mode } from './fixtures/modes.js';
import { client, subscribe, type Inbox } from './fixtures/mqtt.js';

const update = (d: Device, data: unknown, epoch: string | undefined = d.epoch) =>
  d.client.publishAsync(d.topic, JSON.stringify({ action: 'update', data, ...(epoch ? { epoch } : {}) }), { qos: 1, retain: true });

async function connect(t: Parameters<Parameters<typeof forEachMode>[2]>[0], mode: Mode, user: string, clientId: string, data: Record<string, unknown>) {
  const credentials = mode.credentials(user) as { username: string; password: string };
  return device(t, mode.mqttUrl, credentials, clientId, data);
}

/** The next user event of `user` on the watcher, skipping others' events. */
const userEvent = (inbox: Inbox, user: string, label: string) => inbox.find((m) => m.topic === `presence/user/${user}`, label);

async function metric(mode: Mode, name: string): Promise<string> {
  const text = await (await fetch(`${mode.httpUrl}/metrics`)).text();
  return text.split('\n').filter((line) => line.startsWith(name)).join('\n');
}

forEachMode(t, 'an update reaches the user and each group, retained, with the next seq; the same data emits nothing', async (t, mode) => {
  const watch = await mode.watcher(t);
  const alice = await connect(t, mode, 'alice', 'alice-1', { name: 'Alice' });
  const online = await userEvent(watch, 'alice', 'alice online');
  t.equal(online.json.action, 'online');
  await alice.join('g1');
  await alice.join('g2');
  await watch.find((m) => m.topic === 'presence/group/g2' && m.json.action === 'join', 'join g2');

  await update(alice, { name: 'Alice', status: 'busy' });
  const user = await watch.next('the user update');
  t.equal(user.topic, 'presence/user/alice');
  t.match(user.json, { action: 'update', id: 'alice', data: { name: 'Alice', status: 'busy' } });
  t.type(user.json.time, 'number');
  t.ok((user.json.seq as number) > (online.json.seq as number), 'the next seq');
  for (const g of ['g1', 'g2']) {
    const group = await watch.next(`the update on ${g}`);
    t.equal(group.topic, `presence/group/${g}`);
    t.match(group.json, { action: 'update', id: 'alice', groupId: g, groupOnlineCount: 1, data: { status: 'busy' } });
    t.ok((group.json.seq as number) > (user.json.seq as number), 'group events take seqs after the user event');
  }

  // Retained: a new subscriber sees the update at once.
  const late = await client(t, mode.mqttUrl, { ...mode.credentials('bob'), clientId: 'bob-late' });
  const retained = new Promise<{ retain: boolean; json: Record<string, unknown> }>((resolve) =>
    late.on('message', (topic, payload, packet) => {
      if (topic === 'presence/user/alice') resolve({ retain: packet.retain, json: JSON.parse(payload.toString()) as Record<string, unknown> });
    }),
  );
  await subscribe(late, 'presence/user/alice');
  const held = await retained;
  t.equal(held.retain, true, 'retained');
  t.same(held.json, user.json, 'the retained record is the update');

  // The same data, keys in another order: nothing. Then a marker proves nothing came in between.
  await update(alice, { status: 'busy', name: 'Alice' });
  await update(alice, { status: 'away' });
  const marker = await userEvent(watch, 'alice', 'the marker update');
  t.same(marker.json.data, { status: 'away' }, 'the same data emitted nothing');

  // Later events carry the latest data, the offline included.
  await alice.end();
  const offline = await userEvent(watch, 'alice', 'alice offline');
  t.match(offline.json, { action: 'offline', data: { status: 'away' } });
  const answer = (await (await fetch(`${mode.httpUrl}/v1/users/alice`)).json()) as Record<string, unknown>;
  t.match(answer, { id: 'alice', online: false, data: { status: 'away' }, lastSeen: offline.json.time }, 'lastSeen over HTTP');
}, { users: ['alice', 'bob'] });

forEachMode(t, 'oversized data, a stale epoch and a non-object are refused and change nothing', async (t, mode) => {
  const watch = await mode.watcher(t);
  const alice = await connect(t, mode, 'alice', 'alice-2', { name: 'Alice' });
  await userEvent(watch, 'alice', 'alice online');
  await update(alice, { big: 'x'.repeat(2000) });
  await update(alice, { status: 'stale' }, 'an-old-epoch');
  await update(alice, ['not', 'an', 'object']);
  await alice.client.publishAsync(alice.topic, JSON.stringify({ action: 'update', epoch: alice.epoch }), { qos: 1, retain: true });
  await update(alice, { status: 'marker' });
  const next = await userEvent(watch, 'alice', 'the marker update');
  t.match(next.json, { action: 'update', data: { status: 'marker' } }, 'no event before the marker');
  const state = await mode.tracker.user('alice');
  t.same(state?.data, { status: 'marker' });
  t.equal(state?.online, true, 'still online');
  const refusals = await metric(mode, 'presence_refused_publishes_total');
  t.match(refusals, /update_stale_epoch/, `the stale update is counted: ${refusals}`);
}, { users: ['alice'] });

forEachMode(t, 'a birth with new data is an update; with the same data, nothing', async (t, mode) => {
  const watch = await mode.watcher(t);
  const alice = await connect(t, mode, 'alice', 'alice-3', { v: 1 });
  await userEvent(watch, 'alice', 'alice online');
  const birth = (data: unknown) => alice.client.publishAsync(alice.topic, JSON.stringify({ action: 'online', data, epoch: alice.epoch }), { qos: 1, retain: true });
  await birth({ v: 1 });
  await birth({ v: 2 });
  const next = await userEvent(watch, 'alice', 'the update from the birth');
  t.match(next.json, { action: 'update', data: { v: 2 } }, 'the same birth again emitted nothing; new data is an update');
  t.same((await (await fetch(`${mode.httpUrl}/v1/users/alice`)).json() as { data: unknown }).data, { v: 2 }, 'HTTP agrees with the retained event');
}, { users: ['alice'] });

forEachMode(t, 'beyond the rate limit an update is refused, logged and counted; nothing else changes', async (t, mode) => {
  let now = 1_800_000_000_000;
  mode.updateLimiter.now = () => now;
  const watch = await mode.watcher(t);
  const alice = await connect(t, mode, 'alice', 'alice-4', {});
  await userEvent(watch, 'alice', 'alice online');
  for (let i = 1; i <= 3; i++) {
    await update(alice, { n: i });
    t.same((await userEvent(watch, 'alice', `update ${i}`)).json.data, { n: i });
    now += 1000;
  }
  await update(alice, { n: 4 });
  now += 56_999; // 59.999 s after the first: still within its minute
  await update(alice, { n: 5 });
  now += 1; // the first update's minute is over: one more is allowed
  await update(alice, { n: 6 });
  const next = await userEvent(watch, 'alice', 'the update after the window moved');
  t.same(next.json.data, { n: 6 }, 'updates 4 and 5 were refused');
  t.equal((await mode.tracker.user('alice'))?.online, true, 'the connection is untouched');
  t.equal((await mode.tracker.user('alice'))?.connections, 1);
  t.ok(mode.logs.some((l) => JSON.stringify(l).includes('rate_limited')), 'logged');
  t.match(await metric(mode, 'presence_refused_publishes_total'), /reason="update_rate_limited"\} 2/, `counted, both: ${await metric(mode, 'presence_refused_publishes_total')}`);
}, { users: ['alice'], serve: { maxUpdatesPerMinute: 3 }, attach: { maxUpdatesPerMinute: 3 } });

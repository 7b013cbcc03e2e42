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
import { waitFor } from './fixtures/raw-sessions.js';

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
  // A refusal shows only in the log: wait for it before the clock moves (attach reads it later).
  const refused = () => mode.logs.filter((l) => l.msg.endsWith(' refused') && JSON.stringify(l).includes('rate_limited')).length;
  await update(alice, { n: 4 });
  await waitFor(() => refused() === 1, 'the 4th update refused');
  now += 56_999; // 59.999 s after the first: still within its minute
  await update(alice, { n: 5 });
  await waitFor(() => refused() === 2, 'the 5th update refused');
  now += 1; // the first update's minute is over: one more is allowed
  await update(alice, { n: 6 });
  const next = await userEvent(watch, 'alice', 'the update after the window moved');
  t.same(next.json.data, { n: 6 }, 'updates 4 and 5 were refused');
  t.equal((await mode.tracker.user('alice'))?.online, true, 'the connection is untouched');
  t.equal((await mode.tracker.user('alice'))?.connections, 1);
  t.equal(refused(), 2, 'logged, each');
  t.match(await metric(mode, 'presence_refused_publishes_total'), /reason="update_rate_limited"\} 2/, `counted, both: ${await metric(mode, 'presence_refused_publishes_total')}`);
}, { users: ['alice'], serve: { maxUpdatesPerMinute: 3 }, attach: { maxUpdatesPerMinute: 3 } });

forEachMode(t, 'lastSeen: an offline user with no groups is answered with it by hereNow over MQTT and by /v1', async (t, mode) => {
  const watch = await mode.watcher(t);
  const carol = await connect(t, mode, 'carol', 'carol-1', { name: 'Carol' });
  await userEvent(watch, 'carol', 'carol online');
  const q = await mode.querier(t, 'bob', 'bob-q');
  const whileOnline = await q.result<{ users: Record<string, unknown>[] }>('hereNow', { userIds: ['carol'] });
  t.notOk('lastSeen' in whileOnline.users[0]!, 'no lastSeen while online');
  await carol.end();
  const offline = await watch.find((m) => m.topic === 'presence/user/carol' && m.json.action === 'offline', 'carol offline');
  const lastSeen = offline.json.time as number;
  const here = await q.result<{ users: Record<string, unknown>[] }>('hereNow', { userIds: ['carol', 'never-seen'] });
  t.same(here.users, [
    { id: 'carol', online: false, data: {}, seq: 0, lastSeen },
    { id: 'never-seen', online: false, data: {}, seq: 0 },
  ], 'a user seen before has lastSeen; one never seen has none');
  const one = await fetch(`${mode.httpUrl}/v1/users/carol`);
  t.equal(one.status, 200, 'a user seen before is known');
  t.match(await one.json(), { id: 'carol', online: false, lastSeen });
  t.match(await (await fetch(`${mode.httpUrl}/v1/users?ids=carol`)).json(), { users: [{ id: 'carol', lastSeen }] });
}, { users: ['carol', 'bob'] });

t.test('serve: where the users file provides data, an update is refused, logged and counted', async (t) => {
  const { writeUsersFile } = await import('./fixtures/auth.js');
  const { serve } = await import('./fixtures/server.js');
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const usersFile = await writeUsersFile(join(mkdtempSync(join(tmpdir(), 'upd-')), 'users.json'), {
    alice: { password: 'pw-alice', data: { name: 'Alice (trusted)' } },
    bob: { password: 'pw-bob' },
  });
  const { mqttUrl, server, logs, httpUrl } = await serve(t, { usersFile });
  const watch = await client(t, mqttUrl, { clientId: 'bob-watch', username: 'bob', password: 'pw-bob' });
  const { Inbox } = await import('./fixtures/mqtt.js');
  const inbox = new Inbox(watch);
  await subscribe(watch, 'presence/user/+');
  const alice = await device(t, mqttUrl, { username: 'alice', password: 'pw-alice' }, 'alice-1', { name: 'declared' });
  t.match((await userEvent(inbox, 'alice', 'alice online')).json, { action: 'online', data: { name: 'Alice (trusted)' } });
  await update(alice, { name: 'Mallory' });
  const bob = await device(t, mqttUrl, { username: 'bob', password: 'pw-bob' }, 'bob-2', { v: 1 });
  await userEvent(inbox, 'bob', 'bob online');
  await update(bob, { v: 2 });
  t.match((await inbox.next('bob update')).json, { id: 'bob', action: 'update' }, 'no alice event before bob\'s update');
  t.same((await server.broker.tracker.user('alice'))?.data, { name: 'Alice (trusted)' });
  t.ok(logs.some((l) => l.msg === 'publish refused' && String(l.reason).startsWith('update trusted_data')), 'logged');
  const metrics = await (await fetch(`${httpUrl}/metrics`)).text();
  t.match(metrics, /presence_refused_publishes_total\{reason="update_trusted_data"\} 1/, 'counted');
});

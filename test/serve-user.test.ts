import t from 'tap';
import { ManualClock } from './fixtures/clock.js';
import { client, Inbox, refusedCode, subscribe, watcher } from './fixtures/mqtt.js';
import { RawClient } from './fixtures/raw.js';
import { until } from './fixtures/scheduler.js';
import { serve } from './fixtures/server.js';

t.test('online on the first connection, offline on the last; a second device changes nothing', async (t) => {
  const { mqttUrl } = await serve(t);
  const watch = await watcher(t, mqttUrl);
  const phone = await client(t, mqttUrl, { clientId: 'alice-phone', username: 'alice' });
  const online = await watch.next('alice online');
  t.equal(online.topic, 'presence/user/alice');
  t.match(online.json, { action: 'online', id: 'alice', data: {} });
  t.type(online.json.time, 'number');
  t.type(online.json.seq, 'number');

  const laptop = await client(t, mqttUrl, { clientId: 'alice-laptop', username: 'alice' });
  await laptop.endAsync();
  await phone.endAsync();
  const offline = await watch.next('alice offline');
  t.match(offline.json, { action: 'offline', id: 'alice', reason: 'disconnect' });
  t.ok((offline.json.seq as number) > (online.json.seq as number), 'seq increases');
  t.same(watch.unread(), [], 'nothing else was published');
});

t.test('without a username the client id is the user id', async (t) => {
  const { mqttUrl } = await serve(t);
  const watch = await watcher(t, mqttUrl);
  await client(t, mqttUrl, { clientId: 'sensor-17' });
  const online = await watch.next('sensor online');
  t.equal(online.topic, 'presence/user/sensor-17');
  t.match(online.json, { action: 'online', id: 'sensor-17' });
});

t.test('abrupt socket loss gives offline with reason connection_lost', async (t) => {
  const { mqttUrl } = await serve(t);
  const watch = await watcher(t, mqttUrl);
  const bob = await client(t, mqttUrl, { clientId: 'bob-1', username: 'bob' });
  await watch.next('bob online');
  bob.stream.destroy();
  const offline = await watch.next('bob offline');
  t.match(offline.json, { action: 'offline', id: 'bob', reason: 'connection_lost' });
});

t.test('keepalive expiry (1.5 x keepalive) gives offline with reason keepalive_timeout', async (t) => {
  const { mqttUrl, server } = await serve(t);
  const watch = await watcher(t, mqttUrl);
  const silent = await RawClient.open(t, server.mqttPort);
  t.equal(await silent.connect({ clientId: 'silent-1', username: 'carol', keepalive: 1 }), 0);
  await watch.next('carol online');
  const offline = await watch.next('carol offline after 1.5 s of silence');
  t.match(offline.json, { action: 'offline', id: 'carol', reason: 'keepalive_timeout' });
  await silent.whenClosed();
});

t.test('a session takeover (same client id) is not an offline/online pair', async (t) => {
  const { mqttUrl } = await serve(t);
  const watch = await watcher(t, mqttUrl);
  const first = await client(t, mqttUrl, { clientId: 'dave-phone', username: 'dave' });
  await watch.next('dave online');
  const firstClosed = new Promise<void>((resolve) => first.once('close', () => resolve()));
  const second = await client(t, mqttUrl, { clientId: 'dave-phone', username: 'dave' });
  await firstClosed;
  // A marker published after the takeover: anything the takeover caused would arrive before it.
  const marker = await client(t, mqttUrl, { clientId: 'marker' });
  const next = await watch.next('the marker online');
  t.equal(next.topic, 'presence/user/marker', 'no event for dave came between');
  await second.endAsync();
  const offline = await watch.next('dave offline');
  t.match(offline.json, { action: 'offline', id: 'dave', reason: 'disconnect' }, 'the new session still counts');
  await marker.endAsync();
});

t.test('a takeover by a different user takes the old user offline', async (t) => {
  const { mqttUrl } = await serve(t);
  const watch = await watcher(t, mqttUrl);
  await client(t, mqttUrl, { clientId: 'shared-id', username: 'erin' });
  await watch.next('erin online');
  await client(t, mqttUrl, { clientId: 'shared-id', username: 'frank' });
  const events = [await watch.next('first'), await watch.next('second')];
  t.same(
    events.map((e) => [e.json.id, e.json.action]).sort(),
    [['erin', 'offline'], ['frank', 'online']],
  );
  t.equal(events.find((e) => e.json.id === 'erin')!.json.reason, 'takeover');
});

t.test('a new subscriber to presence/user/<id> gets the retained current state', async (t) => {
  const { mqttUrl } = await serve(t);
  const watch = await watcher(t, mqttUrl);
  const gina = await client(t, mqttUrl, { clientId: 'gina-1', username: 'gina' });
  await watch.next('gina online');
  const late = await client(t, mqttUrl, { clientId: 'late' });
  const inbox = new Inbox(late);
  await subscribe(late, 'presence/user/gina');
  const state = await inbox.next('retained state');
  t.equal(state.retain, true);
  t.match(state.json, { action: 'online', id: 'gina' });
  await gina.endAsync();
  await watch.find((m) => m.json.id === 'gina' && m.json.action === 'offline', 'gina offline');
  const later = await client(t, mqttUrl, { clientId: 'later' });
  const laterInbox = new Inbox(later);
  await subscribe(later, 'presence/user/gina');
  t.match((await laterInbox.next('retained offline')).json, { action: 'offline', id: 'gina', reason: 'disconnect' });
});

t.test('user data comes from the will on the announcement topic, in the online event already', async (t) => {
  const { mqttUrl } = await serve(t);
  const watch = await watcher(t, mqttUrl);
  const data = { name: 'Wallace', avatar: '/images/Avatar-2.png' };
  const will = { topic: 'presence/conn/hank/hank-1', payload: Buffer.from(JSON.stringify({ action: 'offline', data, epoch: 'e1' })), qos: 1 as const, retain: true };
  const hank = await client(t, mqttUrl, { clientId: 'hank-1', username: 'hank', will });
  t.same((await watch.next('hank online')).json.data, data);
  hank.stream.destroy();
  const offline = await watch.next('hank offline');
  t.same(offline.json.data, data, 'offline carries the data too');
  t.equal(offline.json.reason, 'connection_lost', 'the will itself is not an extra event');
  t.same(watch.unread(), []);
});

t.test('invalid ids are refused with CONNACK 2 or 4 and a logged reason', async (t) => {
  const { mqttUrl, logs } = await serve(t);
  const watch = await watcher(t, mqttUrl);
  t.equal(await refusedCode(mqttUrl, { clientId: 'ok-client', username: 'a/b' }), 4, "username with '/'");
  t.equal(await refusedCode(mqttUrl, { clientId: 'ok-client', username: 'x'.repeat(129) }), 4, 'username over 128');
  t.equal(await refusedCode(mqttUrl, { clientId: 'ok-client', username: '$admin' }), 4, "username starting with '$'");
  t.equal(await refusedCode(mqttUrl, { clientId: 'wild+card' }), 2, "client id with '+'");
  t.equal(await refusedCode(mqttUrl, { clientId: 'hash#' }), 2, "client id with '#'");
  const refusals = logs.filter((l) => l.msg === 'connection refused');
  t.equal(refusals.length, 5);
  t.match(refusals[0], { reason: /invalid user id: contains '\/'/, returnCode: 4 });
  t.match(refusals[1], { reason: /longer than 128/ });
  // A valid 128-character id in multi-byte characters is fine.
  const long = 'é'.repeat(128);
  await client(t, mqttUrl, { clientId: 'long-1', username: long });
  t.equal((await watch.next('long id online')).json.id, long);
  t.same(watch.unread(), [], 'refused connections produced no events');
});

t.test('will data that is not a JSON object or over the limit is refused', async (t) => {
  const { mqttUrl, logs } = await serve(t, { maxDataBytes: 64 });
  const watch = await watcher(t, mqttUrl);
  const will = (payload: string, topic = 'presence/conn/ivy/ivy-1') => ({ topic, payload: Buffer.from(payload), qos: 1 as const, retain: true });
  const base = { clientId: 'ivy-1', username: 'ivy' };
  t.equal(await refusedCode(mqttUrl, { ...base, will: will('not json') }), 5, 'malformed JSON');
  t.equal(await refusedCode(mqttUrl, { ...base, will: will('{"action":"offline","data":[1,2]}') }), 5, 'data an array');
  t.equal(await refusedCode(mqttUrl, { ...base, will: will('{"action":"offline","data":"x"}') }), 5, 'data a string');
  t.equal(await refusedCode(mqttUrl, { ...base, will: will(JSON.stringify({ action: 'offline', data: { n: 'x'.repeat(80) } })) }), 5, 'data over the limit');
  t.equal(await refusedCode(mqttUrl, { ...base, will: will('{"action":"offline"}', 'presence/conn/jack/jack-1') }), 5, "a will on someone else's topic");
  t.equal(await refusedCode(mqttUrl, { ...base, will: will('{"action":"offline"}', 'presence/user/ivy') }), 5, 'a will spoofing a user event');
  const reasons = logs.filter((l) => l.msg === 'connection refused').map((l) => l.reason);
  t.match(reasons, [/not valid JSON/, /data must be object/, /data must be object/, /over the 64-byte limit/, /only 'presence\/conn\/ivy\/ivy-1'/, /only/]);
  // A will elsewhere is none of our business.
  await client(t, mqttUrl, { ...base, will: will('bye', 'devices/ivy/status') });
  t.match((await watch.next('ivy online')).json, { id: 'ivy', action: 'online' });
});

t.test('clients cannot spoof presence; the spoofer stays connected and nothing is delivered or retained', async (t) => {
  const { mqttUrl, logs } = await serve(t);
  const watch = await watcher(t, mqttUrl, ['presence/#']);
  const mallory = await client(t, mqttUrl, { clientId: 'mallory-1', username: 'mallory' });
  await watch.find((m) => m.topic === 'presence/user/mallory', 'mallory online');
  const fake = JSON.stringify({ time: 1, action: 'online', id: 'victim', data: {}, seq: 1 });
  await mallory.publishAsync('presence/user/victim', fake, { qos: 1, retain: true });
  await mallory.publishAsync('presence/group/g1', fake, { qos: 1 });
  await mallory.publishAsync('presence/conn/victim/victim-1', '{"action":"online"}', { qos: 1, retain: true });
  await mallory.publishAsync('presence/member/g1/victim', '{"action":"join"}', { qos: 1, retain: true });
  await mallory.publishAsync('presence/query/someone-else', '{"id":"1","method":"hereNow","params":{"userIds":["a"]}}', { qos: 1 });
  await mallory.publishAsync('presence/anything/else', 'x', { qos: 1 });
  await mallory.publishAsync('$SYS/fake', 'x', { qos: 1 });
  t.equal(mallory.connected, true, 'still connected');
  // A later, real event proves the spoofed ones were not just slow.
  await client(t, mqttUrl, { clientId: 'marker' });
  const next = await watch.next('marker online');
  t.equal(next.topic, 'presence/user/marker');
  const refusals = logs.filter((l) => l.msg === 'publish refused');
  t.equal(refusals.length, 7, 'every spoof was logged');
  t.match(refusals[0], { topic: 'presence/user/victim', reason: /spoofing/ });
  const fresh = await client(t, mqttUrl, { clientId: 'fresh' });
  const inbox = new Inbox(fresh);
  await subscribe(fresh, ['presence/user/victim', 'presence/conn/#', 'presence/member/#']);
  await subscribe(fresh, 'presence/user/marker');
  t.equal((await inbox.next('retained marker state')).topic, 'presence/user/marker', 'no retained spoof arrived first');
});

t.test('private topics cannot be subscribed, and wildcards never leak them', async (t) => {
  const { mqttUrl } = await serve(t);
  const snoop = await client(t, mqttUrl, { clientId: 'snoop' });
  const inbox = new Inbox(snoop);
  t.same(await subscribe(snoop, ['presence/conn/#', 'presence/member/+/x', 'presence/query/victim', 'presence/reply/victim']), [128, 128, 128, 128]);
  t.same(await subscribe(snoop, ['#', 'presence/reply/snoop']), [1, 1], 'broad wildcards and its own reply topic are fine');
  const victim = await client(t, mqttUrl, { clientId: 'victim', username: 'victim' });
  await victim.publishAsync('presence/conn/victim/victim', '{"action":"online","epoch":"secret"}', { qos: 1 });
  await victim.publishAsync('presence/member/g/victim', '{"action":"join"}', { qos: 1 });
  await victim.publishAsync('presence/query/victim', '{"id":"1","method":"hereNow","params":{"userIds":["a"]}}', { qos: 1 });
  await victim.publishAsync('chat/marker', 'done', { qos: 1 });
  await inbox.find((m) => m.topic === 'chat/marker', 'marker');
  const leaked = inbox.all.filter((m) => /^presence\/(conn|member|query|reply)\//.test(m.topic));
  t.same(leaked.map((m) => m.topic), [], 'nothing private reached the # subscriber');
});

t.test('seq strictly increases per user across user and group events', async (t) => {
  const { mqttUrl } = await serve(t);
  const watch = await watcher(t, mqttUrl);
  for (let i = 0; i < 3; i++) {
    const c = await client(t, mqttUrl, { clientId: `kim-${i}`, username: 'kim' });
    await subscribe(c, [`group/g${i}`, 'group/shared']);
    await c.endAsync();
  }
  await watch.find((m) => m.topic === 'presence/group/shared' && m.json.action === 'offline' && (watch.all.filter((x) => x.json.action === 'offline' && x.topic === 'presence/user/kim').length === 3), 'third offline');
  const seqs = watch.all.filter((m) => m.json.id === 'kim').map((m) => m.json.seq as number);
  t.ok(seqs.length >= 12, `saw ${seqs.length} events for kim`);
  t.ok(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!), 'strictly increasing in arrival order');
});

t.test('grace window: an offline followed by a return in time emits nothing at all', async (t) => {
  // The grace holds run on the test's clock (the broker's scheduler): the window is crossed by moving
  // the clock, not by sleeping through it.
  const clock = new ManualClock();
  const { mqttUrl } = await serve(t, { graceMs: 1500 }, { scheduler: clock });
  const watch = await watcher(t, mqttUrl);
  const first = await client(t, mqttUrl, { clientId: 'lee-1', username: 'lee' });
  await subscribe(first, 'group/g');
  await watch.next('lee online');
  await watch.next('lee joins g');
  first.stream.destroy();
  await clock.scheduled.find((ms) => ms === 1500, 'the offline to be held for the grace window');
  const back = await client(t, mqttUrl, { clientId: 'lee-2', username: 'lee' });
  await until(() => clock.pending().length === 0, 'the return to cancel the hold');
  // Outlast the window: the marker comes after it, so a held-back offline would have arrived first.
  clock.advance(1700);
  await client(t, mqttUrl, { clientId: 'marker' });
  t.equal((await watch.next('marker online')).topic, 'presence/user/marker', 'no offline/online for lee');
  await back.endAsync();
  await clock.scheduled.find((ms) => ms === 1500, 'the real offline to be held');
  clock.fire(1500);
  const offline = await watch.next('the real offline, after the window');
  t.match(offline.json, { id: 'lee', action: 'offline', reason: 'disconnect' });
  t.match((await watch.next('group offline')).json, { groupId: 'g', action: 'offline', groupOnlineCount: 0 });
});

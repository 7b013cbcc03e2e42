import t from 'tap';
import { client, refusedCode, subscribe, watcher, type Inbox, type Received } from './fixtures/mqtt.js';
import { querier } from './fixtures/query.js';
import { serve } from './fixtures/server.js';
import { sample, scrape } from './fixtures/prometheus.js';

/** Reads on until every one of `wanted` has matched a message, in whatever order they come. */
async function seen(inbox: Inbox, wanted: Record<string, (m: Received) => boolean>): Promise<void> {
  const missing = new Map(Object.entries(wanted));
  while (missing.size > 0) {
    const m = await inbox.next([...missing.keys()].join(', '));
    for (const [label, match] of missing) if (match(m)) missing.delete(label);
  }
}

t.test('metrics move as users come and go', async (t) => {
  const { mqttUrl, httpUrl } = await serve(t);
  const other = await serve(t);
  // The watcher and the asker are users too: they are part of every count below. Replies are sent only
  // once every event before them has been published, so a query is a barrier for the event counters.
  const watch = await watcher(t, mqttUrl);
  const q = await querier(t, mqttUrl, { clientId: 'asker' });
  const barrier = () => q.result('whereNow', { userId: 'asker' });
  await barrier();
  const before = await scrape(httpUrl);
  t.equal(sample(before, 'presence_users_online'), 2);
  t.equal(sample(before, 'presence_connections'), 2);
  t.equal(sample(before, 'presence_groups'), 0);
  t.equal(sample(before, 'presence_events_published_total', { kind: 'user', action: 'online' }), 2);
  t.equal(sample(before, 'presence_events_published_total', { kind: 'user', action: 'offline' }), 0, 'zero series are there from the start');
  t.match(before, /^process_cpu_user_seconds_total /m, 'process metrics are there');

  const alicePhone = await client(t, mqttUrl, { clientId: 'alice-phone', username: 'alice' });
  const aliceLaptop = await client(t, mqttUrl, { clientId: 'alice-laptop', username: 'alice' });
  await subscribe(alicePhone, ['group/a', 'group/b']);
  const bob = await client(t, mqttUrl, { clientId: 'bob-1', username: 'bob' });
  await subscribe(bob, 'group/a');
  await seen(watch, {
    'bob joins a': (m) => m.topic === 'presence/group/a' && m.json.id === 'bob' && m.json.action === 'join',
    'alice joins b': (m) => m.topic === 'presence/group/b' && m.json.id === 'alice' && m.json.action === 'join',
  });
  await barrier();
  const busy = await scrape(httpUrl);
  t.equal(sample(busy, 'presence_users_online'), 4, 'asker, watcher, alice, bob');
  t.equal(sample(busy, 'presence_connections'), 5, "alice's two devices count twice");
  t.equal(sample(busy, 'presence_groups'), 2);
  t.equal(sample(busy, 'presence_memberships'), 3);
  t.equal(sample(busy, 'presence_events_published_total', { kind: 'user', action: 'online' }), 4);
  t.equal(sample(busy, 'presence_events_published_total', { kind: 'group', action: 'join' }), 3);
  t.equal(sample(await scrape(other.httpUrl), 'presence_users_online'), 0, 'another server in the process has its own registry');

  await Promise.all([alicePhone.endAsync(), aliceLaptop.endAsync(), bob.endAsync()]);
  await seen(watch, {
    'alice offline': (m) => m.topic === 'presence/user/alice' && m.json.action === 'offline',
    'bob offline': (m) => m.topic === 'presence/user/bob' && m.json.action === 'offline',
  });
  await barrier();
  const after = await scrape(httpUrl);
  t.equal(sample(after, 'presence_users_online'), 2, 'asker and watcher remain');
  t.equal(sample(after, 'presence_connections'), 2);
  t.equal(sample(after, 'presence_groups'), 2, 'membership outlives the connection');
  t.equal(sample(after, 'presence_memberships'), 3);
  t.equal(sample(after, 'presence_events_published_total', { kind: 'user', action: 'offline' }), 2);
  t.equal(sample(after, 'presence_events_published_total', { kind: 'group', action: 'offline' }), 3);
});

t.test('refusals are counted by reason, queries timed by method', async (t) => {
  const { mqttUrl, httpUrl } = await serve(t);
  t.equal(await refusedCode(mqttUrl, { clientId: 'bad+id' }), 2);
  t.equal(await refusedCode(mqttUrl, { clientId: 'ok-1', username: '$bad' }), 4);
  const mallory = await client(t, mqttUrl, { clientId: 'mallory' });
  await mallory.publishAsync('presence/user/alice', '{"action":"online"}', { qos: 1 });
  await mallory.publishAsync('presence/conn/alice/x', '{"action":"online"}', { qos: 1 });
  await mallory.publishAsync('presence/query/someone-else', '{}', { qos: 1 });
  await mallory.subscribeAsync('presence/conn/#').catch(() => undefined);
  await mallory.subscribeAsync('presence/reply/someone-else').catch(() => undefined);

  const q = await querier(t, mqttUrl, { clientId: 'asker' });
  await q.result('hereNow', { userIds: ['mallory'] });
  await q.result('hereNow', { userIds: ['asker'] });
  await q.ask('hereNow', { userIds: 'x' });
  await q.ask('nope', {});
  await q.raw('not json');
  await fetch(`${httpUrl}/v1/groups/g`);

  const text = await scrape(httpUrl);
  t.equal(sample(text, 'presence_refused_connections_total', { reason: 'invalid_client_id' }), 1);
  t.equal(sample(text, 'presence_refused_connections_total', { reason: 'invalid_user_id' }), 1);
  t.equal(sample(text, 'presence_refused_publishes_total', { reason: 'spoofing' }), 3);
  t.equal(sample(text, 'presence_refused_subscribes_total', { reason: 'private_topic' }), 1);
  t.equal(sample(text, 'presence_refused_subscribes_total', { reason: 'not_its_own_reply_topic' }), 1);
  const count = (labels: Record<string, string>) => sample(text, 'presence_query_duration_seconds_count', labels);
  t.equal(count({ method: 'hereNow', transport: 'mqtt', code: '200' }), 2);
  t.equal(count({ method: 'hereNow', transport: 'mqtt', code: '400' }), 1);
  t.equal(count({ method: 'unknown', transport: 'mqtt', code: '404' }), 1);
  t.equal(count({ method: 'invalid', transport: 'mqtt', code: '400' }), 1);
  t.equal(count({ method: 'groupHereNow', transport: 'http', code: '200' }), 1);
  t.ok(sample(text, 'presence_query_duration_seconds_sum', { method: 'hereNow', transport: 'mqtt', code: '200' }) > 0, 'time is measured');
  t.equal(sample(text, 'presence_query_duration_seconds_bucket', { method: 'hereNow', transport: 'mqtt', code: '200', le: '+Inf' }), 2);
});

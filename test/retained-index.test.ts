import t from 'tap';
import { client, Inbox, subscribe } from './fixtures/mqtt.js';
import { serve } from './fixtures/server.js';

t.test('retained user events answer exact and wildcard subscriptions, and nothing else', async (t) => {
  const { mqttUrl, server } = await serve(t);
  await client(t, mqttUrl, { clientId: 'alice-phone', username: 'alice' });
  await client(t, mqttUrl, { clientId: 'bob-phone', username: 'bob' });
  await server.broker.tracker.settled();
  await server.broker.publisher.drained();

  const exact = new Inbox(await client(t, mqttUrl, { clientId: 'exact-reader' }));
  await subscribe(exact.client, 'presence/user/alice');
  const alice = await exact.next('retained alice');
  t.equal(alice.topic, 'presence/user/alice');
  t.equal(alice.retain, true);
  t.match(alice.json, { action: 'online', id: 'alice' });

  const wild = new Inbox(await client(t, mqttUrl, { clientId: 'wild-reader' }));
  await subscribe(wild.client, ['presence/user/+', 'presence/#']);
  const seen = new Set<string>();
  while (!['alice', 'bob'].every((id) => seen.has(`presence/user/${id}`))) seen.add((await wild.next('retained users')).topic);
  t.ok(seen.has('presence/user/alice') && seen.has('presence/user/bob'), 'both wildcard forms find the retained events');

  const reader = await client(t, mqttUrl, { clientId: 'none-reader' });
  await subscribe(reader, ['presence/user/nobody', 'presence/user/alice/extra']);
  const marker = new Inbox(reader);
  // A later live event proves nothing retained arrived for the two filters before it.
  await subscribe(reader, 'presence/user/carol');
  await client(t, mqttUrl, { clientId: 'carol-phone', username: 'carol' });
  const first = await marker.next('carol online');
  t.equal(first.topic, 'presence/user/carol', 'no retained message for a user never seen or a deeper topic');
});

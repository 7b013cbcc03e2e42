import t from 'tap';
import { client, Inbox, subscribe, watcher } from './fixtures/mqtt.js';
import { RawClient } from './fixtures/raw.js';
import { serve } from './fixtures/server.js';

/**
 * `mosquitto_sub -t 'presence/#'` connects with no username and an empty client id (clean session);
 * the broker makes up an id (aedes: `aedes_<uuid>`). Such a connection has no identity: it watches and
 * queries, but is no user, has no presence and leaves no retained record (PRODUCT.md, Identity).
 */
t.test('a connection with no username and an empty client id is an observer, not a user', async (t) => {
  const { mqttUrl, server } = await serve(t);
  const port = Number(new URL(mqttUrl).port);
  const watch = await watcher(t, mqttUrl);

  const observer = await RawClient.open(t, port);
  t.equal(await observer.connect({ clientId: '', clean: true }), 0, 'accepted, like mosquitto_sub');
  observer.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'presence/#', qos: 1 }, { topic: 'group/lobby', qos: 1 }] });
  const suback = await observer.waitFor((p) => p.cmd === 'suback', 'SUBACK');
  t.same((suback as { granted: number[] }).granted, [1, 1], 'may watch everything and read a group');

  // The next user event the watcher sees is alice's: the observer announced nothing before it.
  const alice = await client(t, mqttUrl, { clientId: 'alice-1', username: 'alice' });
  await subscribe(alice, 'group/lobby');
  t.match((await watch.next('alice online')).json, { action: 'online', id: 'alice' });
  t.match((await watch.next('alice joins')).json, { action: 'join', id: 'alice', groupId: 'lobby', groupOnlineCount: 1 }, 'the observer is no member');
  const seen = await observer.waitFor((p) => p.cmd === 'publish' && p.topic === 'presence/user/alice', "alice's event at the observer");
  t.match(JSON.parse(String((seen as { payload: Buffer }).payload)), { action: 'online', id: 'alice' });

  await server.broker.tracker.settled();
  t.match(await server.broker.tracker.stats(), { onlineUsers: 2, connections: 2, memberships: 1 }, 'the watcher and alice; the observer is nobody');

  observer.socket.destroy();
  await observer.whenClosed();
  alice.end();
  t.match((await watch.next('alice offline, nothing for the observer before it')).json, { action: 'offline', id: 'alice' });

  // No retained record: a new subscriber to every user topic hears of alice and the watcher only.
  const late = await client(t, mqttUrl, { clientId: 'late', username: 'late' });
  const inbox = new Inbox(late);
  await subscribe(late, 'presence/user/+');
  const users = new Set<string>();
  for (;;) {
    const message = await inbox.next('retained records, then late itself');
    users.add(String(message.json.id));
    if (message.json.id === 'late') break;
  }
  t.notOk([...users].some((id) => id.startsWith('aedes_')), `no record of the observer: ${[...users].join(', ')}`);
});

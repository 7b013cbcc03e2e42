import t from 'tap';
import { device } from './fixtures/announce.js';
import { attach } from './fixtures/bridge.js';
import { mosquitto } from './fixtures/mosquitto.js';
import { client, Inbox, refusedCode, subscribe } from './fixtures/mqtt.js';

t.test("the project's ACL: a user announces only itself and can never publish presence", async (t) => {
  const broker = await mosquitto(t);
  if (!broker) return;
  const { running } = await attach(t, broker);
  const watch = new Inbox(await client(t, broker.url, { ...broker.as('watcher'), clientId: 'watcher-1' }));
  await subscribe(watch.client, ['presence/user/+', 'presence/group/+']);
  const alice = await device(t, broker.url, broker.as('alice'), 'alice-1');
  t.match((await watch.next('alice online')).json, { id: 'alice', action: 'online' });

  const mallory = await client(t, broker.url, { ...broker.as('mallory'), clientId: 'm-1' });
  const spoofs: [string, string][] = [
    [`presence/conn/alice/alice-1`, JSON.stringify({ action: 'offline', epoch: alice.epoch })],
    [`presence/conn/bob/m-1`, JSON.stringify({ action: 'online', epoch: 'x' })],
    [`presence/conn/mallory/not-my-client-id`, JSON.stringify({ action: 'online', epoch: 'x' })],
    [`presence/member/lobby/alice`, JSON.stringify({ action: 'join' })],
    [`presence/user/alice`, JSON.stringify({ action: 'offline', id: 'alice', time: 1, seq: 1, data: {} })],
    [`presence/group/lobby`, JSON.stringify({ action: 'join', id: 'alice', groupId: 'lobby', groupOnlineCount: 9 })],
    [`presence/bridge/presence-bridge`, JSON.stringify({ status: 'offline' })],
  ];
  for (const [topic, payload] of spoofs) await mallory.publishAsync(topic, payload, { qos: 1, retain: true });
  // mallory's own announcements pass; the bridge handles messages in order, so whatever the spoofs
  // had caused would have been published before this
  await mallory.publishAsync('presence/conn/mallory/m-1', JSON.stringify({ action: 'online', epoch: 'm' }), { qos: 1, retain: true });
  await mallory.publishAsync('presence/member/lobby/mallory', JSON.stringify({ action: 'join' }), { qos: 1, retain: true });
  t.match((await watch.next('mallory online')).json, { id: 'mallory', action: 'online' });
  t.match((await watch.next('mallory joins')).json, { id: 'mallory', action: 'join', groupId: 'lobby', groupOnlineCount: 1 });
  await running.tracker.settled();
  t.match(await running.tracker.user('alice'), { online: true, connections: 1, groups: [] }, 'alice is untouched');
  t.equal(await running.tracker.user('bob'), undefined, 'nobody announced bob');

  // nobody but the bridge reads announcements
  const snoop = new Inbox(mallory);
  await subscribe(mallory, ['presence/conn/#', 'presence/member/#']);
  await alice.join('lobby');
  await watch.find((m) => m.json.id === 'alice' && m.json.action === 'join', 'alice joins');
  t.same(snoop.unread().filter((m) => m.topic.startsWith('presence/conn/') || m.topic.startsWith('presence/member/')), [],
    'announcements are not delivered to other users');

  // a will on someone else's announcement topic is never delivered (Mosquitto 2.0 checks a will
  // against the ACL when it fires)
  const forger = await client(t, broker.url, {
    ...broker.as('mallory'),
    clientId: 'm-2',
    will: { topic: 'presence/conn/alice/alice-1', payload: Buffer.from(alice.offlinePayload), qos: 1, retain: true },
  });
  forger.stream.destroy();
  await new Promise<void>((resolve) => forger.once('close', () => resolve()));
  // the same client id again: by its CONNACK the broker has ended the old connection (and its will)
  await client(t, broker.url, { ...broker.as('mallory'), clientId: 'm-2' });
  await mallory.publishAsync('presence/member/lobby/mallory', '', { qos: 1, retain: true });
  t.match((await watch.next('mallory leaves')).json, { id: 'mallory', action: 'leave', groupId: 'lobby' });
  t.same(watch.unread(), [], 'the forged will changed nothing');
  // and a wrong password is refused too
  t.equal(await refusedCode(broker.url, { username: 'alice', password: 'wrong', clientId: 'a-x' }), 5);
  await running.tracker.settled();
  t.match(await running.tracker.user('alice'), { online: true, groups: ['lobby'] });
});

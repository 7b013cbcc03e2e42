import t from 'tap';
import { device } from './fixtures/announce.js';
import { attach } from './fixtures/bridge.js';
import { mosquitto } from './fixtures/mosquitto.js';
import { client, Inbox, subscribe } from './fixtures/mqtt.js';

t.test('multi-device: online on the first birth, offline on the last end; data from the birth', async (t) => {
  const broker = await mosquitto(t);
  if (!broker) return;
  await attach(t, broker);
  const watch = new Inbox(await client(t, broker.url, { ...broker.as('watcher'), clientId: 'watcher-1' }));
  await subscribe(watch.client, ['presence/user/+', 'presence/group/+']);

  const phone = await device(t, broker.url, broker.as('alice'), 'alice-phone', { name: 'Alice' });
  const online = await watch.next('alice online');
  t.equal(online.topic, 'presence/user/alice');
  t.match(online.json, { action: 'online', id: 'alice', data: { name: 'Alice' } });
  t.type(online.json.seq, 'number');
  t.type(online.json.time, 'number');

  const laptop = await device(t, broker.url, broker.as('alice'), 'alice-laptop', { name: 'Alice' });
  await laptop.end();
  await phone.end();
  const offline = await watch.next('alice offline');
  t.match(offline.json, { action: 'offline', id: 'alice', reason: 'announced', data: { name: 'Alice' } });
  t.ok((offline.json.seq as number) > (online.json.seq as number), 'seq increases');

  // the retained user event is the current state for a late subscriber
  const late = new Inbox(await client(t, broker.url, { ...broker.as('watcher'), clientId: 'watcher-late' }));
  await subscribe(late.client, 'presence/user/alice');
  const retained = await late.next('the retained alice event');
  t.equal(retained.retain, true);
  t.match(retained.json, { action: 'offline', id: 'alice', seq: offline.json.seq });
  t.same(watch.unread(), [], 'nothing else was published');
});

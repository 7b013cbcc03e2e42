import t from 'tap';
import { client, watcher } from './fixtures/mqtt.js';
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

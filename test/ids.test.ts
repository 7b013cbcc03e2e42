import t from 'tap';
import { invalidIdReason, isValidId, MAX_ID_LENGTH } from '../src/protocol/ids.js';
import { client, watcher } from './fixtures/mqtt.js';
import { serve } from './fixtures/server.js';

t.test('ids: any UTF-8 text without topic syntax, 1 to 128 characters', async (t) => {
  for (const id of ['alice', 'ü-grp', '用户', '𝄞', '👩‍💻 dev', 'a'.repeat(MAX_ID_LENGTH), '😀'.repeat(MAX_ID_LENGTH)]) {
    t.equal(invalidIdReason(id), undefined, `${JSON.stringify(id.slice(0, 12))} is valid`);
  }
  const invalid: [string, string][] = [
    ['', 'empty'],
    ['a/b', "contains '/'"],
    ['a+', "contains '+'"],
    ['#', "contains '#'"],
    ['a\u0000', "contains 'NUL'"],
    ['$sys', "starts with '$'"],
    ['\uD834', 'contains a lone surrogate (not valid UTF-8)'],
    ['x\uDD1E', 'contains a lone surrogate (not valid UTF-8)'],
    ['\uDD1E\uD834', 'contains a lone surrogate (not valid UTF-8)'],
    ['a'.repeat(MAX_ID_LENGTH + 1), `longer than ${MAX_ID_LENGTH} characters`],
    ['😀'.repeat(MAX_ID_LENGTH + 1), `longer than ${MAX_ID_LENGTH} characters`],
  ];
  for (const [id, reason] of invalid) t.equal(invalidIdReason(id), reason, `${JSON.stringify(id.slice(0, 12))}: ${reason}`);
  t.notOk(isValidId(42));
});

t.test('a user and a group named with characters outside the BMP are tracked', async (t) => {
  const { mqttUrl, server } = await serve(t);
  const watch = await watcher(t, mqttUrl);
  const c = await client(t, mqttUrl, { clientId: 'phone-𝄞', username: '𝄞-player' });
  t.match((await watch.next('online')).json, { action: 'online', id: '𝄞-player' });
  await c.subscribeAsync('group/🎵/chat');
  t.match((await watch.next('join')).json, { action: 'join', id: '𝄞-player', groupId: '🎵', groupOnlineCount: 1 });
  t.same((await server.broker.tracker.user('𝄞-player'))?.groups, ['🎵']);
});

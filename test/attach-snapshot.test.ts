import t from 'tap';
import { RetainedMirror } from '../src/attach/mirror.js';
import { buildResync } from '../src/attach/snapshot.js';
import { Topics } from '../src/topics.js';

const topics = new Topics();
const json = (value: unknown) => Buffer.from(JSON.stringify(value));

t.test('buildResync: the retained store becomes one snapshot per user, and a list of what to clear', async (t) => {
  const mirror = new RetainedMirror();
  // known before: zoe had a live birth (she vanished); yuri's c1 epoch x1 ended
  mirror.setLive('presence/conn/zoe/z1', { userId: 'zoe', clientId: 'z1', epoch: 'z', payload: json({}) });
  mirror.setLive('presence/conn/yuri/c1', { userId: 'yuri', clientId: 'c1', epoch: 'x1', payload: json({}) });
  mirror.end('presence/conn/yuri/c1');
  const retained = new Map<string, Buffer>([
    ['presence/conn/bob/b1', json({ action: 'online', data: { n: 1 }, epoch: 'e1' })],
    ['presence/conn/alice/a1', json({ action: 'online', epoch: 'e2' })],
    ['presence/conn/alice/a2', json({ action: 'offline', epoch: 'e3' })],
    ['presence/conn/yuri/c1', json({ action: 'online', epoch: 'x1' })],
    ['presence/conn/eve/e1', Buffer.from('{nope')],
    ['presence/conn/eve/e1/deeper', json({ action: 'online' })],
    ['presence/member/lobby/alice', json({ action: 'join' })],
    ['presence/member/lobby/carl', json({ action: 'leave' })],
    ['presence/member/kitchen/carl', json({ action: 'bake' })],
    ['presence/user/dora', json({ time: 1, action: 'online', id: 'dora', data: { d: 1 }, seq: 42 })],
    ['presence/user/fred', json({ time: 1, action: 'offline', id: 'fred', data: {}, seq: 7 })],
    ['presence/user/gus', json({ action: 'online' })],
  ]);
  const resync = buildResync(retained, topics, mirror, 1024);
  t.same([...resync.births.keys()], ['presence/conn/bob/b1', 'presence/conn/alice/a1']);
  t.same([...resync.members], [['alice', new Set(['lobby'])]]);
  t.same(resync.clear.sort(), [
    'presence/conn/alice/a2',
    'presence/conn/eve/e1',
    'presence/conn/eve/e1/deeper',
    'presence/conn/yuri/c1',
    'presence/member/kitchen/carl',
    'presence/member/lobby/carl',
  ], 'offlines, stale births, explicit leaves and junk');
  t.same(resync.dropped.map((d) => d.topic).sort(), ['presence/conn/eve/e1', 'presence/conn/eve/e1/deeper', 'presence/member/kitchen/carl']);
  t.same(resync.users, [
    { userId: 'alice', connections: { a1: { epoch: 'e2', data: undefined } }, groups: ['lobby'], published: undefined },
    { userId: 'bob', connections: { b1: { epoch: 'e1', data: { n: 1 } } }, groups: [], published: undefined },
    { userId: 'dora', connections: {}, groups: [], published: { online: true, seq: 42, data: { d: 1 } } },
    { userId: 'zoe', connections: {}, groups: [], published: undefined },
  ], 'sorted; fred (published offline, nothing live) and gus (not a valid record) need no settling');
});

t.test('RetainedMirror remembers ended epochs per connection, bounded', async (t) => {
  const mirror = new RetainedMirror();
  const topic = 'presence/conn/a/c';
  for (let i = 0; i < 10; i++) {
    mirror.setLive(topic, { userId: 'a', clientId: 'c', epoch: `e${i}`, payload: Buffer.alloc(0) });
    mirror.end(topic);
  }
  mirror.setLive(topic, { userId: 'a', clientId: 'c', epoch: 'e10', payload: Buffer.alloc(0) });
  t.ok(mirror.isEnded(topic, 'e9'), 'an ended epoch stays ended after a newer birth');
  t.ok(mirror.isEnded(topic, 'e2'));
  t.notOk(mirror.isEnded(topic, 'e1'), 'only the last 8 per connection are kept');
  t.notOk(mirror.isEnded(topic, 'e10'));
  t.notOk(mirror.isEnded(topic, undefined));
  t.equal(mirror.liveCount, 1);
});

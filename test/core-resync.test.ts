import t from 'tap';
import { PresenceTracker, type PresenceEvent, type Scheduler } from '../src/core/index.js';

function tracker(graceMs = 0) {
  const events: PresenceEvent[] = [];
  const timers: (() => void)[] = [];
  const scheduler: Scheduler = { set: (fn) => timers.push(fn), clear: () => {} };
  let now = 1_000;
  const tr = new PresenceTracker({ graceMs, now: () => now++, scheduler, onEvents: (e) => events.push(...e) });
  const summary = () => events.map((e) => (e.kind === 'user' ? `user ${e.event.id} ${e.event.action}` : `group ${e.event.groupId} ${e.event.id} ${e.event.action} ${e.event.groupOnlineCount}`));
  return { tr, events, summary, timers };
}

t.test('a fresh process seeded from what was published announces nothing that did not change', async (t) => {
  const { tr, summary } = tracker();
  await tr.resync({ userId: 'alice', connections: { phone: { epoch: 'e1', data: { n: 1 } } }, groups: ['g'], published: { online: true, seq: 50, data: { n: 1 } } });
  await tr.resync({ userId: 'bob', connections: {}, groups: ['g'], published: { online: false, seq: 9, data: {} } });
  t.same(summary(), []);
  t.match(await tr.user('alice'), { online: true, connections: 1, groups: ['g'], data: { n: 1 } });
  t.match(await tr.user('bob'), { online: false, groups: ['g'] });
  t.same(await tr.groupOnlineCounts(['g']), new Map([['g', 1]]));
  // the seeded connection behaves like any other: its end is an offline with the next seq
  await tr.connectionDown({ userId: 'alice', connectionId: 'phone', reason: 'announced', epoch: 'e1' });
  t.same(summary(), ['user alice offline', 'group g alice offline 0']);
});

t.test('data that changed while nobody watched is an update (user, then each group; counts unchanged)', async (t) => {
  const { tr, summary, events } = tracker();
  await tr.resync({ userId: 'alice', connections: { phone: { epoch: 'e1', data: { n: 2 } } }, groups: ['g'], published: { online: true, seq: 50, data: { n: 1 } } });
  t.same(summary(), ['user alice update', 'group g alice update 1']);
  t.match(events[0]!.event, { data: { n: 2 } });
  t.ok(events[0]!.event.seq > 50, 'seq continues above what was published');
  await tr.resync({ userId: 'alice', connections: { phone: { epoch: 'e1', data: { n: 2 } } }, groups: ['g'] });
  t.equal(events.length, 2, 'the same data again: nothing');
});

t.test('a user who vanished while nobody watched goes offline; one who arrived goes online', async (t) => {
  const { tr, summary, events } = tracker();
  await tr.resync({ userId: 'carol', connections: {}, groups: ['g'], published: { online: true, seq: 70, data: { x: 1 } } });
  await tr.resync({ userId: 'dave', connections: { d1: {} }, groups: ['g'] });
  t.same(summary(), ['user carol offline', 'group g carol offline 0', 'user dave online', 'group g dave online 1']);
  t.match(events[0]!.event, { reason: 'vanished', data: { x: 1 } });
  t.ok(events[0]!.event.seq > 70, 'seq continues above what was published');
});

t.test('a known user is diffed against the snapshot: leaves, joins, then online/offline', async (t) => {
  const { tr, summary } = tracker();
  await tr.connectionUp({ userId: 'alice', connectionId: 'a1', epoch: 'e1' });
  await tr.join('alice', 'g1');
  await tr.join('alice', 'g2');
  const before = summary().length;
  await tr.resync({ userId: 'alice', connections: {}, groups: ['g2', 'g3'] });
  t.same(summary().slice(before), [
    'user alice offline',
    'group g1 alice leave 0',
    'group g3 alice join 0',
    'group g2 alice offline 0',
    'group g3 alice offline 0',
  ]);
  t.match(await tr.user('alice'), { online: false, connections: 0, groups: ['g2', 'g3'] });
  const again = summary().length;
  await tr.resync({ userId: 'alice', connections: {}, groups: ['g2', 'g3'] });
  t.equal(summary().length, again, 'resyncing to the same truth announces nothing');
  await tr.resync({ userId: 'alice', connections: { a2: { epoch: 'e2' } }, groups: ['g2', 'g3'] });
  t.same(summary().slice(again), ['user alice online', 'group g2 alice online 1', 'group g3 alice online 1']);
});

t.test('a connection replaced by another keeps the user online silently; stale epochs stay stale', async (t) => {
  const { tr, summary } = tracker();
  await tr.connectionUp({ userId: 'alice', connectionId: 'a1', epoch: 'e1' });
  const before = summary().length;
  await tr.resync({ userId: 'alice', connections: { a1: { epoch: 'e2' } }, groups: [] });
  t.equal(summary().length, before);
  await tr.connectionDown({ userId: 'alice', connectionId: 'a1', reason: 'announced', epoch: 'e1' });
  t.equal(summary().length, before, 'the old epoch no longer ends the connection');
  await tr.connectionDown({ userId: 'alice', connectionId: 'a1', reason: 'announced', epoch: 'e2' });
  t.same(summary().slice(before), ['user alice offline']);
});

t.test('an offline held back by the grace window is settled by the snapshot', async (t) => {
  const { tr, summary } = tracker(5_000);
  await tr.connectionUp({ userId: 'alice', connectionId: 'a1' });
  await tr.connectionUp({ userId: 'bob', connectionId: 'b1' });
  await tr.connectionDown({ userId: 'alice', connectionId: 'a1', reason: 'connection_lost' });
  await tr.connectionDown({ userId: 'bob', connectionId: 'b1', reason: 'connection_lost' });
  t.same(summary(), ['user alice online', 'user bob online'], 'both offlines are held back');
  await tr.resync({ userId: 'alice', connections: { a1: {} }, groups: [] });
  await tr.resync({ userId: 'bob', connections: {}, groups: [] });
  t.same(summary(), ['user alice online', 'user bob online', 'user bob offline']);
  t.match(await tr.user('alice'), { online: true, connections: 1 });
});

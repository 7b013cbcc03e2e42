import t from 'tap';
import { PresenceView } from '../src/client/presence-view.js';
import type { GroupPresenceEvent, UserPresenceEvent } from '../src/client/types.js';

const user = (id: string, action: 'online' | 'offline', seq: number): UserPresenceEvent => ({ time: seq, action, id, data: {}, seq });
const group = (groupId: string, id: string, action: GroupPresenceEvent['action'], seq: number): GroupPresenceEvent => ({
  groupId,
  groupOnlineCount: 1,
  time: seq,
  action,
  id,
  data: {},
  seq,
});

t.test('user events: snapshot first, then changes; stale and unwatched ones are dropped', async (t) => {
  const view = new PresenceView();
  t.same(view.watchUsers(['bob', 'bob', 'eve']), ['bob', 'eve']);
  t.same(view.watchUsers(['bob']), [], 'already watched');
  t.equal(view.user(user('carol', 'online', 1), false), 'ignored');
  t.equal(view.user(user('bob', 'online', 10), true), 'snapshot');
  t.equal(view.user(user('bob', 'online', 10), true), 'stale', 'the retained state again (re-subscription)');
  t.equal(view.user(user('bob', 'offline', 12), false), 'change');
  t.equal(view.user(user('bob', 'online', 11), false), 'stale', 'overtaken');
  t.equal(view.user(user('bob', 'online', 20), true), 'change', 'a newer retained state: missed while away');
  t.equal(view.presenceOf('bob')?.seq, 20);
  t.equal(view.user(user('eve', 'offline', 5), false), 'change', 'a live event before any retained one');
  t.equal(view.user(user('eve', 'online', 3), true), 'stale', 'the retained state it overtook');
  view.unwatchUsers(['bob']);
  t.equal(view.presenceOf('bob'), undefined);
  t.equal(view.user(user('bob', 'offline', 30), false), 'ignored', 'late after unsubscribing');
  view.watchUsers(['bob']);
  t.equal(view.user(user('bob', 'offline', 30), true), 'snapshot', 'watching again starts from a fresh snapshot');
});

t.test('group events: seq per member and group, independent of the user stream', async (t) => {
  const view = new PresenceView();
  view.watchGroups(['g', 'h']);
  view.watchUsers(['bob']);
  t.equal(view.group(group('g', 'bob', 'join', 5)), 'change');
  t.equal(view.group(group('g', 'bob', 'join', 5)), 'stale', 'a QoS 1 redelivery');
  t.equal(view.group(group('h', 'bob', 'online', 5)), 'change', 'another group keeps its own count');
  t.equal(view.group(group('g', 'amy', 'join', 1)), 'change', 'another member keeps its own count');
  t.equal(view.user(user('bob', 'online', 4), true), 'snapshot', 'the retained user event still counts below the group seqs');
  t.equal(view.group(group('x', 'bob', 'join', 9)), 'ignored');
  view.unwatchGroups(['g']);
  t.same(view.watchedGroups, ['h']);
  t.equal(view.group(group('g', 'bob', 'leave', 9)), 'ignored');
});

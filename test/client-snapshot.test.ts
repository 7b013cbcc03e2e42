import t from 'tap';
import { PresenceView } from '../src/client/presence-view.js';
import { SnapshotGate, type HeldEvent } from '../src/client/snapshot-gate.js';
import type { GroupPresenceEvent, UserPresenceEvent } from '../src/client/types.js';

const user = (id: string, action: 'online' | 'offline', seq: number): HeldEvent => ({
  kind: 'user',
  event: { time: seq, action, id, data: {}, seq } satisfies UserPresenceEvent,
  retained: false,
  floor: -1,
});
const group = (groupId: string, id: string, action: GroupPresenceEvent['action'], seq: number, count = 1): HeldEvent => ({
  kind: 'group',
  event: { groupId, groupOnlineCount: count, time: seq, action, id, data: {}, seq },
  floor: -1,
});
const member = (id: string, online: boolean, seq: number) => ({ id, online, data: {}, seq });
const brief = (held: HeldEvent[]) => held.map((h) => `${h.event.id}@${h.event.seq}/${h.floor}`);

t.test('gate: only covered events wait; floors come from the answer; release in arrival order', async (t) => {
  const gate = new SnapshotGate();
  t.notOk(gate.offer(user('bob', 'online', 1)), 'no hold: applied at once');
  const hold = gate.open(['bob'], ['lobby']);
  t.ok(gate.offer(user('bob', 'offline', 2)));
  t.notOk(gate.offer(user('eve', 'online', 3)), 'another user passes');
  t.ok(gate.offer(group('lobby', 'eve', 'join', 4)));
  t.notOk(gate.offer(group('dev', 'eve', 'join', 5)), 'another group passes');
  t.ok(gate.offer(user('bob', 'online', 6)));
  gate.usersAnswered([member('bob', false, 2)]);
  gate.groupAnswered('lobby', [member('eve', true, 4)]);
  t.same(brief(gate.close(hold)), ['bob@2/2', 'eve@4/4', 'bob@6/2'], 'the answer reflects bob@2 and eve@4, not bob@6');
  t.same(gate.close(hold), [], 'closing twice releases nothing');
  t.notOk(gate.offer(user('bob', 'offline', 7)), 'no hold any more');
});

t.test('gate: overlapping holds keep a user\'s events queued, in order, until the last one closes', async (t) => {
  const gate = new SnapshotGate();
  const first = gate.open(['bob', 'eve'], []);
  const second = gate.open(['bob'], []);
  gate.offer(user('bob', 'offline', 2));
  gate.offer(user('eve', 'online', 3));
  gate.offer(user('bob', 'online', 4));
  gate.usersAnswered([member('bob', true, 4), member('eve', false, 1)]);
  t.same(brief(gate.close(first)), ['eve@3/1'], 'eve is released; bob still waits for the second answer');
  t.ok(gate.offer(user('bob', 'offline', 5)), 'and later events of bob queue behind his earlier ones');
  gate.usersAnswered([member('bob', false, 2)]);
  // The answers' floors apply to what was queued when each came; bob@5 came after the first answer,
  // so it is newer than that answer anyway (the server publishes an answer after what it reflects).
  t.same(brief(gate.close(second)), ['bob@2/4', 'bob@4/4', 'bob@5/2'], 'the highest floor of the answers holds');
});

t.test('roster: seeded by a whole page, kept by events, stale entries and events dropped', async (t) => {
  const view = new PresenceView();
  t.equal(view.roster('lobby'), undefined, 'not watched');
  view.watchGroups(['lobby']);
  t.equal(view.group(group('lobby', 'old', 'join', 1).event as GroupPresenceEvent), 'change');
  t.same(view.roster('lobby'), { groupId: 'lobby', complete: false, onlineCount: 1, members: [member('old', true, 1)] }, 'members seen in events');

  view.seedGroup({ groupId: 'lobby', total: 2, onlineCount: 1, offset: 0, members: [member('bob', true, 5), member('eve', false, 3)] });
  t.same(view.roster('lobby'), { groupId: 'lobby', complete: true, onlineCount: 1, members: [member('bob', true, 5), member('eve', false, 3)] }, 'a whole page replaces the roster');
  t.equal(view.group(group('lobby', 'bob', 'online', 5).event as GroupPresenceEvent), 'stale', 'reflected in the snapshot');
  t.equal(view.group(group('lobby', 'eve', 'online', 6, 2).event as GroupPresenceEvent), 'change');
  t.equal(view.group(group('lobby', 'bob', 'leave', 7, 1).event as GroupPresenceEvent), 'change');
  t.same(view.roster('lobby'), { groupId: 'lobby', complete: true, onlineCount: 1, members: [member('eve', true, 6)] });

  view.seedGroup({ groupId: 'lobby', total: 3, onlineCount: 1, offset: 0, members: [member('eve', false, 4)] });
  t.match(view.roster('lobby'), { complete: true, members: [{ id: 'eve', online: true, seq: 6 }] }, 'a partial page: an entry older than what is known is skipped, nobody removed');
  view.forgetCompleteness();
  t.match(view.roster('lobby'), { complete: false }, 'after a connection loss');
  view.seedGroup({ groupId: 'other', total: 0, onlineCount: 0, offset: 0, members: [] });
  t.equal(view.roster('other'), undefined, 'a group not watched gets no roster');
});

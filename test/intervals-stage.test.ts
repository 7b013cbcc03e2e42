import t from 'tap';
import type { GroupEvent, PresenceEvent } from '../src/core/events.js';
import { IntervalAggregator, type FeedEvent } from '../src/feed/intervals.js';
import { ManualClock } from './fixtures/clock.js';

/** The stage alone, fed the model's event shapes; the store's member count is given. */
function stage(members: number, announceMax = 2) {
  const scheduler = new ManualClock();
  const out: FeedEvent[] = [];
  const agg = new IntervalAggregator(
    { announceMax, intervalMs: 1000, intervalMaxIds: 100, scheduler, memberCount: async () => members },
    (events) => out.push(...events),
  );
  let seq = 0;
  const send = (action: string, id: string, count: number) => {
    const event = { groupId: 'g', groupOnlineCount: count, time: 1, action, id, data: {}, seq: ++seq } as unknown as GroupEvent;
    agg.process([{ kind: 'group', event } as PresenceEvent]);
  };
  return { scheduler, out, agg, send };
}

t.test('an interval whose changes all cancel out publishes nothing', async (t) => {
  const { scheduler, out, send } = stage(5);
  send('online', 'a', 3); // first sight: passes while the size is asked for
  await Promise.resolve();
  out.length = 0;
  send('offline', 'a', 2);
  send('online', 'a', 3);
  send('leave', 'b', 3);
  send('join', 'b', 3);
  scheduler.fireAll();
  t.same(out, [], 'flaps and a leave-and-rejoin are in no list, and the count is as it was');
});

t.test('update and unknown actions: no membership or online change, never a crash', async (t) => {
  const { scheduler, out, send } = stage(5);
  send('online', 'a', 3);
  await Promise.resolve();
  out.length = 0;
  send('update', 'a', 3);
  send('somethingNew', 'c', 3);
  scheduler.fireAll();
  t.same(out, [], 'absorbed, listed nowhere');
  send('offline', 'a', 2);
  send('update', 'a', 2);
  scheduler.fireAll();
  t.equal(out.length, 1);
  const e = out[0]!.event as unknown as Record<string, unknown>;
  t.same([e.offline, e.groupOnlineCount], [['a'], 2], 'an update after an offline keeps the offline');
});

t.test('until the store has answered a size, a group is announced per member', async (t) => {
  const { out, send } = stage(1000, 2);
  send('join', 'a', 1);
  send('join', 'b', 2);
  t.equal(out.length, 2);
});

t.test('user events pass untouched and in order with the group events around them', async (t) => {
  const { out, agg } = stage(1);
  const user = { kind: 'user', event: { time: 1, action: 'online', id: 'a', data: {}, seq: 1 } } as PresenceEvent;
  agg.process([user]);
  t.same(out, [user]);
});

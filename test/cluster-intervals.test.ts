/**
 * Interval mode across a cluster, in one process against a real redis-server: two "nodes" (a tracker,
 * a RedisStore, an IntervalRelay and a ClusterIntervals stage each) share one Redis; interval boundaries
 * are called by the test (docs/cluster.md "Large groups in a cluster"). The two-process version with a
 * kill -9 is test/slow/cluster-intervals.test.ts.
 */
import { Redis } from 'ioredis';
import t from 'tap';
import type { GroupEvent } from '../src/core/events.js';
import { PresenceTracker } from '../src/core/tracker.js';
import { ClusterIntervals } from '../src/feed/cluster-intervals.js';
import type { FeedEvent, IntervalEvent } from '../src/feed/intervals.js';
import { IntervalRelay } from '../src/store/interval-relay.js';
import { ClusterKeys } from '../src/store/redis-keys.js';
import { RedisStore } from '../src/store/redis-store.js';
import { startRedis } from './fixtures/redis.js';
import { ManualClock } from './fixtures/clock.js';

const G = 'big';
const SETTINGS = { announceMax: 2, intervalMs: 1000, intervalMaxIds: 10 };

t.test('two nodes, one interval publisher: net changes of both, exact counts, a dead leader loses nothing, the switch back', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  const keys = new ClusterKeys('presence');
  const node = (id: string) => {
    const conn = new Redis(redis.port, '127.0.0.1');
    t.teardown(() => conn.disconnect());
    const tracker = new PresenceTracker({ store: new RedisStore(conn, 'presence'), nodeId: id });
    const relay = new IntervalRelay(conn, keys, id, 60_000);
    const out: FeedEvent[] = [];
    const stage = new ClusterIntervals({ ...SETTINGS, relay, delivered: async () => {}, scheduler: new ManualClock() }, (events) => out.push(...events));
    tracker.setEventSink((events) => stage.process(events));
    const settled = async () => {
      await tracker.settled();
      await stage.settled();
    };
    const groupEvents = () => out.filter((e) => e.kind === 'group').map((e) => e.event as GroupEvent);
    const intervals = () => out.filter((e) => e.kind === 'interval').map((e) => e.event as IntervalEvent);
    return { id, tracker, relay, stage, out, settled, groupEvents, intervals };
  };
  const a = node('A');
  const b = node('B');
  const up = async (n: typeof a, user: string) => {
    await n.tracker.connectionUp({ userId: user, connectionId: `${user}-1` });
    await n.settled();
  };
  const join = async (n: typeof a, user: string) => {
    await n.tracker.join(user, G);
    await n.settled();
  };
  const brief = (e: IntervalEvent) => ({ joined: e.joined.sort(), left: e.left.sort(), online: e.online.sort(), offline: e.offline.sort(), count: e.groupOnlineCount });

  // Two members, one per node: per member.
  await up(a, 'u1');
  await join(a, 'u1');
  await up(b, 'u2');
  await join(b, 'u2');
  t.same(a.groupEvents().map((e) => `${e.action}:${e.id}:${e.groupOnlineCount}`), ['join:u1:1']);
  t.same(b.groupEvents().map((e) => `${e.action}:${e.id}:${e.groupOnlineCount}`), ['join:u2:2']);

  // Over the limit: u3 joins on A, u4 (offline) on B, and u1 flaps on A: all kept for the leader.
  await up(a, 'u3');
  await join(a, 'u3');
  await join(b, 'u4');
  await a.tracker.connectionDown({ userId: 'u1', connectionId: 'u1-1', reason: 'disconnect' });
  await up(a, 'u1');
  t.equal(a.groupEvents().length, 1, 'no per-member event on A over the limit');
  t.equal(b.groupEvents().length, 1, 'none on B');
  t.ok(a.out.some((e) => e.kind === 'user' && e.event.id === 'u3'), 'user events pass');

  await a.stage.boundary();
  await b.stage.boundary();
  t.same(a.intervals().map(brief), [{ joined: ['u3', 'u4'], left: [], online: [], offline: [], count: 3 }], 'the leader lists both nodes\' changes; the flap is in no list');
  t.same(b.intervals(), [], 'the other node publishes no interval');
  t.equal(typeof a.intervals()[0]!.seqs.u3, 'number');
  t.equal(a.intervals()[0]!.seqs.u3, (await a.tracker.user('u3'))!.seq, 'seqs kept exact (microseconds)');

  // Nothing changed: no event at the next boundary.
  await a.stage.boundary();
  t.equal(a.intervals().length, 1, 'no change, no interval');

  // The leader takes an interval and dies before handing it on: the next leader publishes it.
  await b.tracker.connectionDown({ userId: 'u2', connectionId: 'u2-1', reason: 'disconnect' });
  await b.settled();
  const taken = await a.relay.take(G, SETTINGS.announceMax, SETTINGS.intervalMaxIds);
  t.same(taken?.lists.offline, ['u2'], 'taken by A, never published');
  await redis.client().del('presence:iv:leader'); // A's lease expires
  // Meanwhile a change that no one publishes yet.
  await up(b, 'u4');
  await b.stage.boundary();
  t.same(b.intervals().map(brief), [{ joined: [], left: [], online: [], offline: ['u2'], count: 2 }], 'B, the new leader, publishes what A took');
  await b.stage.boundary();
  t.same(b.intervals().map(brief).slice(1), [{ joined: [], left: [], online: ['u4'], offline: [], count: 3 }], 'then what was queued while no one led');

  // A change queued after the leader already reported its state is not reported again.
  const u4 = (await b.tracker.user('u4'))!;
  await b.relay.forward([{ groupId: G, groupOnlineCount: 3, time: 0, action: 'online', id: 'u4', data: {}, seq: u4.seq - 1 }], SETTINGS.announceMax);
  await b.stage.boundary();
  t.equal(b.intervals().length, 2, 'a late copy of a reported change: nothing to say');

  // Truncation over the id limit.
  await up(a, 'u5');
  await join(a, 'u5');
  await join(b, 'u6');
  const cut = await b.relay.take(G, SETTINGS.announceMax, 1);
  t.match(cut, { truncated: true, changed: 2, groupOnlineCount: 4 }, 'cut at the id limit');
  t.equal(cut!.lists.joined.length, 1);
  await b.relay.acknowledge(G);

  // Back to the limit: leaves, then the boundary closes the interval; the next change is per member.
  for (const user of ['u3', 'u4', 'u5', 'u6']) await b.tracker.leave(user, G);
  await b.settled();
  const before = b.groupEvents().length;
  // The closing interval is taken by a leader that dies before handing it on: still found by the next.
  t.same((await b.relay.take(G, SETTINGS.announceMax, SETTINGS.intervalMaxIds))?.lists.left.sort(), ['u3', 'u4', 'u5', 'u6']);
  await redis.client().del('presence:iv:leader');
  t.same(await redis.client().smembers('presence:iv:groups'), [G], 'open until acknowledged');
  await a.stage.boundary();
  t.same(a.intervals().map(brief).at(-1), { joined: [], left: ['u3', 'u4', 'u5', 'u6'], online: [], offline: [], count: 1 }, 'the last interval, by the next leader');
  await up(b, 'u2');
  t.same(b.groupEvents().slice(before).map((e) => `${e.action}:${e.id}:${e.groupOnlineCount}`), ['online:u2:2'], 'per member again');
  t.same(await redis.client().smembers('presence:iv:groups'), [], 'no open interval left');

  // Stopping releases the lease.
  t.equal(await redis.client().get('presence:iv:leader'), 'A');
  await a.stage.stop();
  await b.stage.stop();
  t.equal(await redis.client().get('presence:iv:leader'), null);
});

/**
 * RedisStore against a real redis-server: two trackers (two "nodes") share one store, fed random
 * interleavings of up/down/join/leave/takeover, sequential and concurrent, and compared after every step
 * with a reference model of the contract's rules plus the cluster ones (a down on a node that no longer
 * holds the connection ends nothing).
 */
import fc from 'fast-check';
import { Redis } from 'ioredis';
import t from 'tap';
import type { PresenceEvent } from '../src/core/events.js';
import { PresenceTracker } from '../src/core/tracker.js';
import { RedisStore } from '../src/store/redis-store.js';
import { startRedis } from './fixtures/redis.js';

const USERS = ['u1', 'u2', 'u3'];
const CONNS = ['a', 'b'];
const GROUPS = ['g1', 'g2'];
const NODES = ['A', 'B'] as const;

type Signal =
  | { op: 'up'; node: number; user: string; conn: string }
  | { op: 'down'; node: number; user: string; conn: string }
  | { op: 'join'; node: number; user: string; group: string }
  | { op: 'leave'; node: number; user: string; group: string };
type Step = Signal | { op: 'burst'; signals: Signal[] };

interface RefUser {
  conns: Map<string, string>; // connection -> node
  groups: Set<string>;
}

/** What one signal must announce, reduced to kind/action/group; applies it to the reference. */
function expect(ref: Map<string, RefUser>, s: Signal): string[] {
  const user = ref.get(s.user) ?? { conns: new Map(), groups: new Set() };
  ref.set(s.user, user);
  const online = user.conns.size > 0;
  const node = NODES[s.node]!;
  switch (s.op) {
    case 'up':
      user.conns.set(s.conn, node);
      return online ? [] : ['user online', ...[...user.groups].map((g) => `${g} online`)];
    case 'down':
      if (user.conns.get(s.conn) !== node) return [];
      user.conns.delete(s.conn);
      return user.conns.size > 0 ? [] : ['user offline', ...[...user.groups].map((g) => `${g} offline`)];
    case 'join':
      if (user.groups.has(s.group)) return [];
      user.groups.add(s.group);
      return [`${s.group} join`];
    case 'leave':
      if (!user.groups.delete(s.group)) return [];
      return [`${s.group} leave`];
  }
}

const signal: fc.Arbitrary<Signal> = fc.oneof(
  fc.record({ op: fc.constant('up' as const), node: fc.nat(1), user: fc.constantFrom(...USERS), conn: fc.constantFrom(...CONNS) }),
  fc.record({ op: fc.constant('down' as const), node: fc.nat(1), user: fc.constantFrom(...USERS), conn: fc.constantFrom(...CONNS) }),
  fc.record({ op: fc.constant('join' as const), node: fc.nat(1), user: fc.constantFrom(...USERS), group: fc.constantFrom(...GROUPS) }),
  fc.record({ op: fc.constant('leave' as const), node: fc.nat(1), user: fc.constantFrom(...USERS), group: fc.constantFrom(...GROUPS) }),
);
// A burst: signals fired at once on both nodes, at most one per user (whose order would be a race).
const burst: fc.Arbitrary<Step> = fc
  .uniqueArray(signal, { minLength: 2, maxLength: USERS.length, selector: (s) => s.user })
  .map((signals) => ({ op: 'burst' as const, signals }));

for (const concurrency of ['serial', 'per-user'] as const) t.test(`two trackers sharing one RedisStore behave as one (model, ${concurrency} changes)`, async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  const connections = NODES.map(() => new Redis(redis.port, '127.0.0.1'));
  t.teardown(() => connections.forEach((c) => c.disconnect()));
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(fc.oneof({ arbitrary: signal, weight: 4 }, { arbitrary: burst, weight: 1 }), { maxLength: 25 }), async (steps) => {
      const cluster = `model-${concurrency}-${run++}`;
      const events: PresenceEvent[] = [];
      const trackers = NODES.map(
        (nodeId, i) =>
          new PresenceTracker({
            store: new RedisStore(connections[i]!, cluster),
            nodeId,
            concurrency,
            onEvents: (batch) => events.push(...batch),
            onError: (error) => {
              throw error;
            },
          }),
      );
      const ref = new Map<string, RefUser>();
      const lastSeq = new Map<string, number>();
      const fire = (s: Signal) => {
        const tracker = trackers[s.node]!;
        if (s.op === 'up') return tracker.connectionUp({ userId: s.user, connectionId: s.conn });
        if (s.op === 'down') return tracker.connectionDown({ userId: s.user, connectionId: s.conn, reason: 'disconnect' });
        if (s.op === 'join') return tracker.join(s.user, s.group);
        return tracker.leave(s.user, s.group);
      };
      for (const step of steps) {
        const signals = step.op === 'burst' ? step.signals : [step];
        events.length = 0;
        const wanted = signals.map((s) => expect(ref, s));
        await Promise.all(signals.map(fire));
        await Promise.all(trackers.map((tr) => tr.settled()));
        // Per user: exactly the announcements the reference predicts, in order, seq strictly rising.
        for (const [i, s] of signals.entries()) {
          const got = events
            .filter((e) => e.event.id === s.user)
            .map((e) => (e.kind === 'user' ? `user ${e.event.action}` : `${e.event.groupId} ${e.event.action}`));
          t.strictSame(got, wanted[i], `${JSON.stringify(step)}: events of ${s.user}`);
        }
        for (const e of events) {
          const previous = lastSeq.get(e.event.id) ?? 0;
          if (e.event.seq <= previous) t.fail(`seq of ${e.event.id} did not rise: ${e.event.seq} after ${previous}`);
          lastSeq.set(e.event.id, e.event.seq);
        }
        // Group events carry a count that is right for the state after the whole step when not concurrent.
        if (step.op !== 'burst') {
          for (const e of events) {
            if (e.kind !== 'group') continue;
            const count = [...ref.values()].filter((u) => u.groups.has(e.event.groupId) && u.conns.size > 0).length;
            t.equal(e.event.groupOnlineCount, count, `count in ${JSON.stringify(e.event)}`);
          }
        }
        // The store agrees with the reference, read from either node.
        const store = trackers[steps.length % 2]!.store;
        const counts = await store.groupOnlineCounts(GROUPS);
        for (const g of GROUPS) {
          const members = [...ref.entries()].filter(([, u]) => u.groups.has(g));
          t.equal(counts.get(g), members.filter(([, u]) => u.conns.size > 0).length, `online count of ${g}`);
          const page = await store.groupPage(g, 10, 0);
          t.strictSame(page.members.map((m) => m.id).sort(), members.map(([id]) => id).sort(), `members of ${g}`);
        }
        for (const [id, u] of ref) {
          const state = await trackers[0]!.user(id);
          t.equal(state?.online ?? false, u.conns.size > 0, `${id} online`);
          t.equal(state?.connections ?? 0, u.conns.size, `${id} connections`);
        }
        const stats = await store.stats();
        t.equal(stats.onlineUsers, [...ref.values()].filter((u) => u.conns.size > 0).length, 'stats: online users');
        t.equal(stats.connections, [...ref.values()].reduce((n, u) => n + u.conns.size, 0), 'stats: connections');
        t.equal(stats.memberships, [...ref.values()].reduce((n, u) => n + u.groups.size, 0), 'stats: memberships');
      }
    }),
    { numRuns: 60 },
  );
});

t.test('concurrent changes of one user on two nodes are never lost (compare-and-set)', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  const connections = NODES.map(() => new Redis(redis.port, '127.0.0.1'));
  t.teardown(() => connections.forEach((c) => c.disconnect()));
  const events: PresenceEvent[] = [];
  const trackers = NODES.map(
    (nodeId, i) => new PresenceTracker({ store: new RedisStore(connections[i]!, 'cas'), nodeId, onEvents: (b) => events.push(...b) }),
  );
  const work: Promise<void>[] = [];
  for (let i = 0; i < 40; i++) {
    work.push(trackers[0]!.join('u', `a${i}`), trackers[1]!.join('u', `b${i}`));
    work.push(trackers[i % 2]!.connectionUp({ userId: 'u', connectionId: `c${i}` }));
  }
  await Promise.all(work);
  const user = await trackers[0]!.user('u');
  t.equal(user?.groups.length, 80, 'every join of both nodes is kept');
  t.equal(user?.connections, 40, 'every connection of both nodes is kept');
  t.equal(events.filter((e) => e.kind === 'user').length, 1, 'one online');
  const seqs = events.map((e) => e.event.seq).sort((a, b) => a - b);
  t.equal(new Set(seqs).size, seqs.length, 'no seq issued twice');
});

t.test('per-user changes overlap, and events still leave in commit order (each count right after its event)', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  const connections = NODES.map(() => new Redis(redis.port, '127.0.0.1'));
  t.teardown(() => connections.forEach((c) => c.disconnect()));
  const events: PresenceEvent[] = [];
  const store = new RedisStore(connections[0]!, 'order');
  // Reads of some users are slowed down, so their changes are committed later than they were asked for
  // (every change reads: none starts from the record last known).
  store.lastKnown = () => undefined;
  const getUser = store.getUser.bind(store);
  store.getUser = async (userId) => {
    if (Number(userId.slice(1)) % 3 === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    return getUser(userId);
  };
  let inFlight = 0;
  let overlapped = 0;
  const commit = store.commit.bind(store);
  store.commit = async (...args) => {
    inFlight++;
    overlapped = Math.max(overlapped, inFlight);
    try {
      return await commit(...args);
    } finally {
      inFlight--;
    }
  };
  const tracker = new PresenceTracker({ store, nodeId: 'A', concurrency: 'per-user', onEvents: (b) => events.push(...b) });
  const N = 60;
  await Promise.all(Array.from({ length: N }, (_, i) => tracker.connectionUp({ userId: `u${i}`, connectionId: `c${i}` })));
  events.length = 0;
  await Promise.all(Array.from({ length: N }, (_, i) => tracker.join(`u${i}`, 'g')));
  t.ok(overlapped > 1, `commits overlapped (up to ${overlapped} at once)`);
  const counts = events.filter((e) => e.kind === 'group').map((e) => (e.kind === 'group' ? e.event.groupOnlineCount : -1));
  t.strictSame(counts, Array.from({ length: N }, (_, i) => i + 1), 'group counts rise by one per event, in emission order');
  t.not(
    events.map((e) => e.event.id).join(),
    Array.from({ length: N }, (_, i) => `u${i}`).join(),
    'the slowed users were committed out of call order (so the check above means something)',
  );
  await Promise.all(Array.from({ length: N }, (_, i) => tracker.connectionDown({ userId: `u${i}`, connectionId: `c${i}`, reason: 'disconnect' })));
  await tracker.settled();
  t.equal((await store.groupOnlineCounts(['g'])).get('g'), 0);
});

t.test('a node starts a change from the record it last knew, and is never misled when it is stale', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  const connections = NODES.map(() => new Redis(redis.port, '127.0.0.1'));
  t.teardown(() => connections.forEach((c) => c.disconnect()));
  const events: string[] = [];
  const stores = NODES.map((_, i) => new RedisStore(connections[i]!, 'known'));
  let reads = 0;
  const getUser = stores[0]!.getUser.bind(stores[0]!);
  stores[0]!.getUser = (userId) => {
    reads++;
    return getUser(userId);
  };
  const [a, b] = NODES.map(
    (nodeId, i) =>
      new PresenceTracker({
        store: stores[i]!,
        nodeId,
        concurrency: 'per-user',
        onEvents: (batch) => events.push(...batch.map((e) => `${nodeId} ${e.kind === 'group' ? e.event.groupId : 'user'} ${e.event.action}`)),
      }),
  ) as [PresenceTracker, PresenceTracker];
  await a.connectionUp({ userId: 'u', connectionId: 'c1' });
  await a.join('u', 'g');
  t.equal(reads, 1, "A read u once: its second change started from the record it had committed");
  // B changes u behind A's back: A's known record is stale now.
  await b.leave('u', 'g');
  await b.connectionUp({ userId: 'u', connectionId: 'c2' });
  // By A's stale record u is still in g, so this join would be nothing: A must read and find it is one.
  await a.join('u', 'g');
  // By A's stale record c2 does not exist; it is B's anyway: a down of it on A ends nothing.
  await a.connectionDown({ userId: 'u', connectionId: 'c2', reason: 'disconnect' });
  // A stale record with something to do: its commit is refused, A reads and applies the change again.
  await a.connectionDown({ userId: 'u', connectionId: 'c1', reason: 'disconnect' });
  await b.connectionDown({ userId: 'u', connectionId: 'c2', reason: 'disconnect' });
  t.strictSame(events, ['A user online', 'A g join', 'B g leave', 'A g join', 'B user offline', 'B g offline']);
  const user = await a.user('u');
  t.match(user, { online: false, connections: 0, groups: ['g'] });
  t.ok(reads >= 3, `A read again when its record was stale (${reads} reads)`);
});

/**
 * Model-based property test of PresenceTracker: random interleavings of signals, compared after every
 * step with a tiny reference model written straight from the contract's "Presence semantics".
 * The clock and the timers are fakes under the test's control, so grace expiry is a step like any other.
 */
import fc from 'fast-check';
import t from 'tap';
import type { OfflineReason, PresenceEvent, UserData } from '../src/core/events.js';
import { MemoryStore } from '../src/core/memory-store.js';
import type { UserRecord } from '../src/core/store.js';
import { emptyRecord } from '../src/core/transitions.js';
import * as rules from '../src/core/transitions.js';
import { PresenceTracker } from '../src/core/tracker.js';
import { ManualClock } from './fixtures/clock.js';
import { activeUsers } from './fixtures/store.js';

const USERS = ['u1', 'u2', 'u3', 'u4'];
const CONNS = ['a', 'b', 'c'];
const GROUPS = ['g1', 'g2', 'g3'];
const REASONS: OfflineReason[] = ['disconnect', 'connection_lost', 'keepalive_timeout', 'takeover'];
const EPOCHS = [undefined, 'e1', 'e2'];

/** JSON with sorted keys: equal data, whatever the key order, gives the same string. */
function canon(value: unknown): string {
  if (typeof value !== 'object' || value === null) return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canon).join(',')}]`;
  return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canon((value as Record<string, unknown>)[k])}`).join(',')}}`;
}

type Signal =
  | { op: 'up'; user: string; conn: string; data?: UserData; epoch?: string }
  | { op: 'down'; user: string; conn: string; reason: OfflineReason; epoch?: string }
  | { op: 'join'; user: string; group: string }
  | { op: 'leave'; user: string; group: string }
  | { op: 'update'; user: string; conn: string; data: UserData; epoch?: string };

type Step =
  | Signal
  /** Several signals fired without waiting, then (optionally) time moves on while they are queued. */
  | { op: 'burst'; signals: Signal[]; advanceMs: number }
  | { op: 'advance'; ms: number };

/** A published event reduced to what the reference model predicts. */
interface Expected {
  kind: 'user' | 'group';
  action: string;
  id: string;
  groupId?: string;
  count?: number;
  reason?: OfflineReason;
  data: UserData;
}

interface RefUser {
  conns: Map<string, string | undefined>; // connection -> epoch
  online: boolean; // as published
  pending?: number; // grace token while an offline is held back
  groups: string[]; // in join order
  data: UserData; // the user's, as events carry it
  lastSeen?: number; // time of the last offline
}

/** The reference: the contract's rules, in the most direct form that could work. */
class Reference {
  users = new Map<string, RefUser>();
  timers = new Map<string, { token: number; due: number }>();
  private token = 0;
  /** Work queued behind the tracker's serial queue (signals and fired grace timers), applied at settle. */
  queue: (Signal | { op: 'expire'; user: string; token: number })[] = [];

  constructor(readonly graceMs: number) {}

  user(id: string): RefUser {
    let u = this.users.get(id);
    if (!u) this.users.set(id, (u = { conns: new Map(), online: false, groups: [], data: {} }));
    return u;
  }

  onlineCount(group: string): number {
    let n = 0;
    for (const u of this.users.values()) if (u.online && u.groups.includes(group)) n++;
    return n;
  }

  /** Fires the timers due at `now`, as the fake clock does: their expiries queue behind what is queued. */
  fireDue(now: number): void {
    const due = [...this.timers.entries()].filter(([, timer]) => timer.due <= now).sort((x, y) => x[1].due - y[1].due);
    for (const [user, timer] of due) {
      this.timers.delete(user);
      this.queue.push({ op: 'expire', user, token: timer.token });
    }
  }

  drain(now: number): Expected[] {
    const out: Expected[] = [];
    for (const item of this.queue.splice(0)) {
      out.push(...this.apply(item, now));
      // A user holding nothing is forgotten but for lastSeen: its data with it.
      const u = this.user(item.user);
      if (!u.online && u.groups.length === 0 && u.pending === undefined && u.conns.size === 0) u.data = {};
    }
    return out;
  }

  private goes(id: string, u: RefUser, action: 'online' | 'offline' | 'update', now: number, reason?: OfflineReason): Expected[] {
    if (action !== 'update') u.online = action === 'online';
    if (action === 'offline') u.lastSeen = now;
    const events: Expected[] = [{ kind: 'user', action, id, ...(reason ? { reason } : {}), data: u.data }];
    for (const g of u.groups) events.push({ kind: 'group', action, id, groupId: g, count: this.onlineCount(g), ...(reason ? { reason } : {}), data: u.data });
    return events;
  }

  /** New data for a user published online: `update` unless it is the same (deep JSON equality). */
  private newData(id: string, u: RefUser, data: UserData | undefined, now: number): Expected[] {
    if (data === undefined || canon(data) === canon(u.data)) return [];
    u.data = data;
    return u.online ? this.goes(id, u, 'update', now) : [];
  }

  private apply(s: Signal | { op: 'expire'; user: string; token: number }, now: number): Expected[] {
    const u = this.user(s.user);
    switch (s.op) {
      case 'up': {
        u.conns.set(s.conn, s.epoch);
        if (u.pending !== undefined) {
          // back within the grace window: no offline, no online; new data is an update
          u.pending = undefined;
          this.timers.delete(s.user);
          return this.newData(s.user, u, s.data, now);
        }
        if (u.online) return this.newData(s.user, u, s.data, now);
        if (s.data !== undefined) u.data = s.data;
        return this.goes(s.user, u, 'online', now);
      }
      case 'update': {
        if (!u.conns.has(s.conn)) return []; // not connected
        const epoch = u.conns.get(s.conn);
        if (s.epoch !== undefined && epoch !== undefined && s.epoch !== epoch) return []; // stale
        return this.newData(s.user, u, s.data, now);
      }
      case 'down': {
        if (!u.conns.has(s.conn)) return [];
        const epoch = u.conns.get(s.conn);
        if (s.epoch !== undefined && epoch !== undefined && s.epoch !== epoch) return []; // stale
        u.conns.delete(s.conn);
        if (u.conns.size > 0 || !u.online) return [];
        if (this.graceMs > 0) {
          u.pending = ++this.token;
          this.pendingReason.set(s.user, s.reason);
          this.timers.set(s.user, { token: u.pending, due: now + this.graceMs });
          return [];
        }
        return this.goes(s.user, u, 'offline', now, s.reason);
      }
      case 'expire': {
        if (u.pending !== s.token) return [];
        u.pending = undefined;
        return this.goes(s.user, u, 'offline', now, this.pendingReason.get(s.user));
      }
      case 'join': {
        if (u.groups.includes(s.group)) return [];
        u.groups.push(s.group);
        return [{ kind: 'group', action: 'join', id: s.user, groupId: s.group, count: this.onlineCount(s.group), data: u.data }];
      }
      case 'leave': {
        if (!u.groups.includes(s.group)) return [];
        u.groups = u.groups.filter((g) => g !== s.group);
        return [{ kind: 'group', action: 'leave', id: s.user, groupId: s.group, count: this.onlineCount(s.group), data: u.data }];
      }
    }
  }

  /** The reason a held-back offline will carry: that of the down that started the hold. */
  private readonly pendingReason = new Map<string, OfflineReason>();
}

const user = fc.constantFrom(...USERS);
const conn = fc.constantFrom(...CONNS);
const group = fc.constantFrom(...GROUPS);
/** Small data, often equal to what a user has, with keys in either order (equality is by value). */
const data = fc.oneof(fc.record({ v: fc.nat(2) }), fc.constantFrom({ a: 1, b: 2 }, { b: 2, a: 1 }));
const signal: fc.Arbitrary<Signal> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('up' as const), user, conn, data: fc.option(fc.record({ v: fc.nat(9) }), { nil: undefined }), epoch: fc.constantFrom(...EPOCHS) }, { requiredKeys: ['op', 'user', 'conn'] }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('down' as const), user, conn, reason: fc.constantFrom(...REASONS), epoch: fc.constantFrom(...EPOCHS) }, { requiredKeys: ['op', 'user', 'conn', 'reason'] }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('join' as const), user, group }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('leave' as const), user, group }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('update' as const), user, conn, data, epoch: fc.constantFrom(...EPOCHS) }, { requiredKeys: ['op', 'user', 'conn', 'data'] }) },
);
const step = (graceMs: number): fc.Arbitrary<Step> =>
  fc.oneof(
    { weight: 8, arbitrary: signal },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('burst' as const), signals: fc.array(signal, { minLength: 2, maxLength: 6 }), advanceMs: fc.constantFrom(0, graceMs, graceMs + 1) }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.constantFrom(1, Math.max(1, graceMs - 1), graceMs, graceMs + 1) }) },
  );

function reduce(e: PresenceEvent): Expected {
  if (e.kind === 'user') return { kind: 'user', action: e.event.action, id: e.event.id, ...(e.event.reason ? { reason: e.event.reason } : {}), data: e.event.data };
  const g = e.event;
  return { kind: 'group', action: g.action, id: g.id, groupId: g.groupId, count: g.groupOnlineCount, ...(g.reason ? { reason: g.reason } : {}), data: g.data };
}

function fire(tracker: PresenceTracker, s: Signal): Promise<void> {
  switch (s.op) {
    case 'up':
      return tracker.connectionUp({ userId: s.user, connectionId: s.conn, data: s.data, epoch: s.epoch });
    case 'down':
      return tracker.connectionDown({ userId: s.user, connectionId: s.conn, reason: s.reason, epoch: s.epoch });
    case 'join':
      return tracker.join(s.user, s.group);
    case 'leave':
      return tracker.leave(s.user, s.group);
    case 'update':
      return tracker.update({ userId: s.user, connectionId: s.conn, data: s.data, epoch: s.epoch }).then(() => {});
  }
}

/** Runs one scenario, checking everything after every step; throws on the first difference. */
async function runScenario(graceMs: number, steps: Step[]): Promise<void> {
  const clock = new ManualClock(1_700_000_000_000);
  const events: PresenceEvent[] = [];
  const errors: unknown[] = [];
  const tracker = new PresenceTracker({
    graceMs,
    now: clock.now,
    scheduler: clock,
    onEvents: (batch) => events.push(...batch),
    onError: (error) => errors.push(error),
  });
  const ref = new Reference(graceMs);
  const lastSeq = new Map<string, number>();
  const everOnline = new Set<string>();
  const joined = new Set<string>();
  let seen = 0;

  const check = async (label: string, expected: Expected[]) => {
    await tracker.settled();
    if (errors.length) throw new Error(`${label}: tracker reported ${String(errors[0])}`);
    const fresh = events.slice(seen);
    seen = events.length;
    const got = fresh.map(reduce);
    if (JSON.stringify(got) !== JSON.stringify(expected)) {
      throw new Error(`${label}: events differ\n got      ${JSON.stringify(got)}\n expected ${JSON.stringify(expected)}`);
    }
    for (const e of fresh) {
      const ev = e.event;
      const prev = lastSeq.get(ev.id) ?? -Infinity;
      if (!(ev.seq > prev)) throw new Error(`${label}: seq of ${ev.id} did not increase (${prev} -> ${ev.seq})`);
      lastSeq.set(ev.id, ev.seq);
      if (ev.time !== clock.time) throw new Error(`${label}: event time ${ev.time} is not the clock's ${clock.time}`);
      if (e.kind === 'user') {
        if (ev.action === 'offline' && !everOnline.has(ev.id)) throw new Error(`${label}: offline of ${ev.id} without a prior online`);
        if (ev.action === 'online') everOnline.add(ev.id);
      } else {
        const key = `${ev.id}@${e.event.groupId}`;
        if (ev.action === 'leave' && !joined.has(key)) throw new Error(`${label}: leave of ${key} without a join`);
        if (ev.action === 'join') joined.add(key);
        if (ev.action === 'leave') joined.delete(key);
      }
    }
    // state queries against the reference
    for (const id of USERS) {
      const r = ref.users.get(id);
      const state = await tracker.user(id);
      const online = state?.online ?? false;
      if (online !== (r?.online ?? false)) throw new Error(`${label}: ${id} online=${online}, reference ${r?.online}`);
      if ((state?.connections ?? 0) !== (r?.conns.size ?? 0)) throw new Error(`${label}: ${id} has ${state?.connections} connections, reference ${r?.conns.size}`);
      if (JSON.stringify(state?.groups ?? []) !== JSON.stringify(r?.groups ?? [])) throw new Error(`${label}: ${id} groups ${JSON.stringify(state?.groups)}, reference ${JSON.stringify(r?.groups)}`);
      if (state?.lastSeen !== r?.lastSeen) throw new Error(`${label}: ${id} lastSeen ${state?.lastSeen}, reference ${r?.lastSeen}`);
      if (canon(state?.data ?? {}) !== canon(r?.data ?? {})) throw new Error(`${label}: ${id} data ${JSON.stringify(state?.data)}, reference ${JSON.stringify(r?.data)}`);
    }
    const counts = await tracker.groupOnlineCounts(GROUPS);
    for (const g of GROUPS) {
      if (counts.get(g) !== ref.onlineCount(g)) throw new Error(`${label}: ${g} count ${counts.get(g)}, reference ${ref.onlineCount(g)}`);
      const page = await tracker.groupPage(g, 100, 0);
      const members = [...ref.users.entries()].filter(([, u]) => u.groups.includes(g)).map(([id]) => id);
      if (page.total !== members.length || page.members.map((m) => m.id).sort().join() !== members.sort().join()) {
        throw new Error(`${label}: ${g} members ${JSON.stringify(page.members.map((m) => m.id))}, reference ${JSON.stringify(members)}`);
      }
    }
    const stats = await tracker.stats();
    const refOnline = [...ref.users.values()].filter((u) => u.online).length;
    const refConns = [...ref.users.values()].reduce((n, u) => n + u.conns.size, 0);
    if (stats.onlineUsers !== refOnline || stats.connections !== refConns) {
      throw new Error(`${label}: stats ${JSON.stringify(stats)}, reference online ${refOnline} connections ${refConns}`);
    }
    if (clock.pending().length !== ref.timers.size) throw new Error(`${label}: ${clock.pending().length} grace timers pending, reference ${ref.timers.size}`);
  };

  for (const [i, s] of steps.entries()) {
    const label = `step ${i} ${JSON.stringify(s)}`;
    if (s.op === 'advance') {
      clock.advance(s.ms);
      ref.fireDue(clock.time);
    } else if (s.op === 'burst') {
      // Fired back to back without waiting: the serial queue must apply them in order. Time moving on
      // while they wait fires only timers set by changes already applied, queued behind the burst.
      for (const sig of s.signals) {
        void fire(tracker, sig);
        ref.queue.push(sig);
      }
      clock.advance(s.advanceMs);
      ref.fireDue(clock.time);
    } else {
      void fire(tracker, s);
      ref.queue.push(s);
    }
    const expected = ref.drain(clock.time);
    await check(label, expected);
  }
  // At the end, let every hold run out: no timer may be left, nobody without connections stays online.
  clock.advance(graceMs + 1);
  ref.fireDue(clock.time);
  await check('final expiry', ref.drain(clock.time));
  for (const [id, u] of ref.users) {
    const state = await tracker.user(id);
    if (u.conns.size === 0 && state?.online) throw new Error(`${id} is online without connections`);
  }
  if (clock.pending().length !== 0) throw new Error(`${clock.pending().length} grace timers left`);
}

const RUNS = Number(process.env.MODEL_RUNS ?? 2000);

for (const graceMs of [0, 50]) {
  t.test(`tracker matches the reference model (graceMs=${graceMs})`, async (t) => {
    await fc.assert(
      fc.asyncProperty(fc.array(step(graceMs), { minLength: 1, maxLength: 40 }), (steps) => runScenario(graceMs, steps)),
      { numRuns: RUNS, seed: Number(process.env.MODEL_SEED ?? 20261125 + graceMs) },
    );
    t.pass(`${RUNS} random scenarios matched`);
  });
}

t.test('a user back within the grace window causes no event at all', async (t) => {
  const clock = new ManualClock(1_700_000_000_000);
  const events: PresenceEvent[] = [];
  const tracker = new PresenceTracker({ graceMs: 1000, now: clock.now, scheduler: clock, onEvents: (b) => events.push(...b) });
  await tracker.join('u1', 'g1');
  await tracker.connectionUp({ userId: 'u1', connectionId: 'a' });
  const before = events.length;
  await tracker.connectionDown({ userId: 'u1', connectionId: 'a', reason: 'connection_lost' });
  clock.advance(999);
  await tracker.connectionUp({ userId: 'u1', connectionId: 'b' });
  clock.advance(5000);
  await tracker.settled();
  t.same(events.slice(before), [], 'no offline, no online');
  t.equal(clock.pending().length, 0, 'the hold was cancelled');
  t.equal((await tracker.user('u1'))?.online, true);
});

t.test('a hold that runs out announces the reason of the down that started it', async (t) => {
  const clock = new ManualClock(1_700_000_000_000);
  const events: PresenceEvent[] = [];
  const tracker = new PresenceTracker({ graceMs: 1000, now: clock.now, scheduler: clock, onEvents: (b) => events.push(...b) });
  await tracker.join('u1', 'g1');
  await tracker.connectionUp({ userId: 'u1', connectionId: 'a' });
  await tracker.connectionDown({ userId: 'u1', connectionId: 'a', reason: 'keepalive_timeout' });
  clock.advance(1000);
  await tracker.settled();
  t.match(events.slice(-2).map(reduce), [
    { kind: 'user', action: 'offline', reason: 'keepalive_timeout' },
    { kind: 'group', action: 'offline', groupId: 'g1', count: 0, reason: 'keepalive_timeout' },
  ]);
});

t.test('flushGrace announces every held-back offline at once', async (t) => {
  const clock = new ManualClock(1_700_000_000_000);
  const events: PresenceEvent[] = [];
  const tracker = new PresenceTracker({ graceMs: 60_000, now: clock.now, scheduler: clock, onEvents: (b) => events.push(...b) });
  await tracker.connectionUp({ userId: 'u1', connectionId: 'a' });
  await tracker.connectionUp({ userId: 'u2', connectionId: 'a' });
  await tracker.connectionDown({ userId: 'u1', connectionId: 'a', reason: 'server_shutdown' });
  await tracker.connectionDown({ userId: 'u2', connectionId: 'a', reason: 'server_shutdown' });
  t.equal(clock.pending().length, 2);
  await tracker.flushGrace();
  t.equal(clock.pending().length, 0, 'timers cleared');
  t.same(events.slice(-2).map((e) => [e.event.id, e.event.action]), [['u1', 'offline'], ['u2', 'offline']]);
  t.same(await tracker.stats(), { users: 0, onlineUsers: 0, connections: 0, groups: 0, memberships: 0 }, 'idle records evicted');
});

t.test('pure transitions', async (t) => {
  t.test('connectionUp: first connection goes online with every group, later ones change nothing', async (t) => {
    const member = { ...emptyRecord('u'), groups: ['g1', 'g2'] };
    const first = rules.connectionUp(member, { userId: 'u', connectionId: 'a', data: { n: 1 } }, 5, undefined);
    t.same(first.announce, { user: { action: 'online' }, groups: [{ groupId: 'g1', action: 'online' }, { groupId: 'g2', action: 'online' }] });
    t.same(first.touched, ['g1', 'g2']);
    t.same(first.record.data, { n: 1 });
    t.same(first.record.connections.a, { since: 5, epoch: undefined, data: { n: 1 } });
    const second = rules.connectionUp(first.record, { userId: 'u', connectionId: 'b' }, 6, undefined);
    t.equal(second.announce, undefined);
    t.same(second.record.data, { n: 1 }, 'no data declared keeps what the user had');
    const takeover = rules.connectionUp(second.record, { userId: 'u', connectionId: 'a', data: { n: 2 } }, 7, undefined);
    t.same(takeover.announce, { user: { action: 'update' }, groups: [{ groupId: 'g1', action: 'update' }, { groupId: 'g2', action: 'update' }] }, 'the same connection again is no online; its new data is an update');
    const again = rules.connectionUp(takeover.record, { userId: 'u', connectionId: 'a', data: { n: 2 } }, 8, undefined);
    t.equal(again.announce, undefined, 'the same connection with the same data is no event');
    t.equal(Object.keys(takeover.record.connections).length, 2);
    t.same(takeover.record.data, { n: 2 });
  });
  t.test('trusted data wins over declared data', async (t) => {
    const up = rules.connectionUp(undefined, { userId: 'u', connectionId: 'a', data: { name: 'fake' } }, 1, { name: 'real' });
    t.same(up.record.data, { name: 'real' });
  });
  t.test('connectionDown: unknown, stale, not-last, last, with and without grace', async (t) => {
    t.equal(rules.connectionDown(undefined, { userId: 'u', connectionId: 'a', reason: 'disconnect' }, undefined).announce, undefined);
    const two = rules.connectionUp(rules.connectionUp(undefined, { userId: 'u', connectionId: 'a', epoch: 'e1' }, 1, undefined).record, { userId: 'u', connectionId: 'b' }, 1, undefined).record;
    const stale = rules.connectionDown(two, { userId: 'u', connectionId: 'a', reason: 'announced', epoch: 'e0' }, undefined);
    t.equal(stale.record, two, 'a stale epoch changes nothing');
    const unknown = rules.connectionDown(two, { userId: 'u', connectionId: 'z', reason: 'disconnect' }, undefined);
    t.equal(unknown.record, two);
    const one = rules.connectionDown(two, { userId: 'u', connectionId: 'a', reason: 'disconnect', epoch: 'e1' }, undefined);
    t.equal(one.announce, undefined, 'another connection remains');
    t.same(Object.keys(one.record.connections), ['b']);
    const last = rules.connectionDown(one.record, { userId: 'u', connectionId: 'b', reason: 'connection_lost' }, undefined);
    t.same(last.announce, { user: { action: 'offline', reason: 'connection_lost' }, groups: [] });
    t.equal(last.record.online, false);
    const held = rules.connectionDown(one.record, { userId: 'u', connectionId: 'b', reason: 'connection_lost' }, 7);
    t.equal(held.announce, undefined);
    t.equal(held.holdOffline, 7);
    t.same(held.record.pendingOffline, { token: 7, reason: 'connection_lost' });
    t.equal(held.record.online, true, 'still online as published while held');
    t.equal(rules.graceExpired(held.record, 6), undefined, 'another token is not this hold');
    const expired = rules.graceExpired(held.record, 7)!;
    t.same(expired.announce, { user: { action: 'offline', reason: 'connection_lost' }, groups: [] });
    t.equal(expired.record.pendingOffline, undefined);
    const back = rules.connectionUp(held.record, { userId: 'u', connectionId: 'c' }, 2, undefined);
    t.equal(back.announce, undefined, 'back in time: nothing');
    t.equal(back.record.pendingOffline, undefined);
    t.equal(rules.graceExpired(back.record, 7), undefined, 'the old hold no longer applies');
  });
  t.test('update: refused when not connected, stale or trusted; same data by value announces nothing', async (t) => {
    const up = rules.connectionUp({ ...emptyRecord('u'), groups: ['g'] }, { userId: 'u', connectionId: 'a', data: { a: 1, b: 2 }, epoch: 'e1' }, 1, undefined).record;
    t.match(rules.update(undefined, { userId: 'u', connectionId: 'a', data: {} }, undefined).refused, { code: 'not_connected' });
    t.match(rules.update(up, { userId: 'u', connectionId: 'z', data: {} }, undefined).refused, { code: 'not_connected' });
    const stale = rules.update(up, { userId: 'u', connectionId: 'a', data: { x: 1 }, epoch: 'e0' }, undefined);
    t.match(stale.refused, { code: 'stale_epoch' });
    t.equal(stale.record, up, 'a refusal changes nothing');
    t.match(rules.update(up, { userId: 'u', connectionId: 'a', data: { x: 1 } }, { name: 'real' }).refused, { code: 'trusted_data' });
    t.equal(rules.update(up, { userId: 'u', connectionId: 'a', data: { b: 2, a: 1 }, epoch: 'e1' }, undefined).announce, undefined, 'equal by value');
    const changed = rules.update(up, { userId: 'u', connectionId: 'a', data: { status: 'busy' }, epoch: 'e1' }, undefined);
    t.same(changed.announce, { user: { action: 'update' }, groups: [{ groupId: 'g', action: 'update' }] });
    t.same(changed.touched, ['g']);
    t.same(changed.record.data, { status: 'busy' });
    t.same(changed.record.connections.a!.data, { status: 'busy' });
    t.equal(changed.refused, undefined);
  });
  t.test('join and leave are idempotent', async (t) => {
    const joined = rules.join(undefined, 'u', 'g');
    t.same(joined.announce, { groups: [{ groupId: 'g', action: 'join' }] });
    t.equal(rules.join(joined.record, 'u', 'g').announce, undefined);
    t.equal(rules.leave(undefined, 'u', 'g').announce, undefined, 'no leave without a join');
    const left = rules.leave(joined.record, 'u', 'g');
    t.same(left.announce, { groups: [{ groupId: 'g', action: 'leave' }] });
    t.same(left.record.groups, []);
  });
});

t.test('MemoryStore', async (t) => {
  const rec = (id: string, online: boolean, groups: string[], connections: UserRecord['connections'] = online ? { c: { since: 0 } } : {}): UserRecord => ({
    id,
    online,
    seq: 1,
    data: { id },
    connections,
    groups,
  });

  t.test('groupPage: online first, both in insertion order, paged without gaps or overlaps', async (t) => {
    const store = new MemoryStore();
    const order = ['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6'];
    const online = new Set(['m1', 'm4', 'm6']);
    for (const id of order) await store.commit(rec(id, online.has(id), ['g']), ['g']);
    const whole = await store.groupPage('g', 100, 0);
    t.same(whole.members.map((m) => m.id), ['m1', 'm4', 'm6', 'm0', 'm2', 'm3', 'm5']);
    t.same(whole.members.map((m) => m.online), [true, true, true, false, false, false, false]);
    t.equal(whole.total, 7);
    t.equal(whole.onlineCount, 3);
    t.same(whole.members[0]!.data, { id: 'm1' });
    for (const limit of [1, 2, 3, 5, 7, 8]) {
      const ids: string[] = [];
      for (let offset = 0; offset < 9; offset += limit) ids.push(...(await store.groupPage('g', limit, offset)).members.map((m) => m.id));
      t.same(ids, whole.members.map((m) => m.id), `pages of ${limit} concatenate to the whole`);
    }
    t.same((await store.groupPage('g', 0, 0)).members, [], 'limit 0');
    t.same((await store.groupPage('g', 5, 7)).members, [], 'offset past the end');
    t.same((await store.groupPage('g', 2, 2)).members.map((m) => m.id), ['m6', 'm0'], 'a page across the online/offline boundary');
    t.same(await store.groupPage('nope', 10, 0), { groupId: 'nope', total: 0, onlineCount: 0, members: [] });
  });

  t.test('idle records are evicted, empty groups dropped, stats add up', async (t) => {
    const store = new MemoryStore();
    await store.commit(rec('a', true, ['g1', 'g2']), ['g1', 'g2']);
    await store.commit(rec('b', false, ['g1']), ['g1']);
    await store.commit(rec('c', true, []), []);
    t.same(await store.stats(), { users: 3, onlineUsers: 2, connections: 2, groups: 2, memberships: 3 });
    t.same(await store.groupOnlineCounts(['g1', 'g2', 'g3']), new Map([['g1', 1], ['g2', 1], ['g3', 0]]));
    // c goes offline with nothing else: forgotten
    const counts = await store.commit(rec('c', false, []), []);
    t.same(counts, new Map());
    t.equal(await store.getUser('c'), undefined, 'idle record evicted');
    // a leaves g2: g2 has no members left and disappears
    t.same(await store.commit(rec('a', true, ['g1']), ['g1', 'g2']), new Map([['g1', 1], ['g2', 0]]));
    t.same(await store.stats(), { users: 2, onlineUsers: 1, connections: 1, groups: 1, memberships: 2 });
    // a leave from a group that never existed
    t.same(await store.commit(rec('b', false, ['g1']), ['g9']), new Map([['g9', 0]]));
    t.equal((await store.stats()).groups, 1, 'no empty group created');
    // b and a leave everything and go away
    await store.commit(rec('b', false, []), ['g1']);
    await store.commit(rec('a', false, []), ['g1']);
    t.same(await store.stats(), { users: 0, onlineUsers: 0, connections: 0, groups: 0, memberships: 0 });
    t.same(await activeUsers(store, ['a', 'b', 'c']), []);
  });

  t.test('lastSeen-only users are kept compactly, read back offline, bounded oldest first', async (t) => {
    const store = new MemoryStore({ maxLastSeen: 2 });
    for (const [i, id] of ['x', 'y', 'z'].entries()) await store.commit({ ...rec(id, false, []), lastSeen: 100 + i }, []);
    t.equal(await store.getUser('x'), undefined, 'the oldest is forgotten beyond the bound');
    t.same(await store.getUser('y'), { ...emptyRecord('y'), lastSeen: 101 }, 'no data, seq 0, offline');
    t.equal(store.lastSeenOnly, 2);
    t.same(await store.stats(), { users: 0, onlineUsers: 0, connections: 0, groups: 0, memberships: 0 }, 'not counted as users');
    await store.commit({ ...rec('y', true, ['g']), lastSeen: 101 }, ['g']);
    t.equal(store.lastSeenOnly, 1, 'back online: held in full again');
    await store.commit({ ...rec('y', false, ['g']), lastSeen: 200 }, ['g']);
    t.same((await store.groupPage('g', 10, 0)).members, [{ id: 'y', online: false, data: { id: 'y' }, seq: 1, lastSeen: 200 }]);
    const none = new MemoryStore({ maxLastSeen: 0 });
    await none.commit({ ...rec('a', false, []), lastSeen: 1 }, []);
    t.equal(await none.getUser('a'), undefined, 'a bound of 0 keeps none');
  });

  t.test('a pending record is kept and counted active; getUsers keeps positions', async (t) => {
    const store = new MemoryStore();
    await store.commit({ ...rec('p', true, [], {}), pendingOffline: { token: 1, reason: 'connection_lost' } }, []);
    t.same(await activeUsers(store, ['x', 'p']), ['p']);
    t.same((await store.getUsers(['x', 'p'])).map((r) => r?.id), [undefined, 'p']);
  });
});

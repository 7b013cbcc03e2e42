import { Socket } from 'node:net';
import type { Test } from 'tap';
import t from 'tap';
import { connect, ERROR_CODE, PresenceClientError, type GroupPresenceEvent, type PresenceClient } from '../src/client/index.js';
import { Recorder } from './fixtures/client.js';
import { GatedTransport } from './fixtures/gated-transport.js';
import { forEachMode, type Mode } from './fixtures/modes.js';
import { client as mqttClient, Inbox, subscribe, WAIT_MS } from './fixtures/mqtt.js';

/**
 * The thin client's queries against both modes: the embedded broker (serve), and Mosquitto with the
 * bridge beside it (attach). Same cases, same client; where the modes differ (how a connection is
 * dropped from the far side, who has a Mosquitto account) the mode fixture says how.
 */
const CHURNERS = Array.from({ length: 24 }, (_, i) => `u${i}`);
const users = ['observer', ...CHURNERS];

/** Resolves when `ready()` holds, re-checked whenever the client reports an event; fails after WAIT_MS with `describe()`. */
function until(c: PresenceClient, ready: () => boolean, describe: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!ready()) return false;
      clearTimeout(timer);
      c.off('GROUP_PRESENCE', check).off('USER_PRESENCE', check).off('SNAPSHOT', check);
      resolve();
      return true;
    };
    const timer = setTimeout(() => reject(new Error(`timed out: ${describe()}`)), WAIT_MS);
    if (!check()) c.on('GROUP_PRESENCE', check).on('USER_PRESENCE', check).on('SNAPSHOT', check);
  });
}

forEachMode(t, 'the four queries: callbacks and promises, results as the server gives them', async (t, mode) => {
  const alice = await mode.client(t, 'alice', { data: { name: 'Alice' } });
  const bob = await mode.client(t, 'bob', { data: { name: 'Bob' } });
  await alice.subscribeGroup({ groupIds: ['lobby', 'dev'] });
  await bob.subscribeGroup({ groupIds: ['lobby'] });
  await bob.disconnect();

  const viaCallback = await new Promise<unknown>((resolve, reject) => {
    void alice.hereNow({ userIds: ['alice', 'bob', 'nobody'], onSuccess: resolve, onFailed: (e) => reject(new Error(e.content)) });
  });
  t.match(viaCallback, {
    users: [
      { id: 'alice', online: true, data: { name: 'Alice' } },
      { id: 'bob', online: false, data: { name: 'Bob' } },
      { id: 'nobody', online: false, data: {}, seq: 0 },
    ],
  });
  const [aliceEntry, bobEntry] = (viaCallback as { users: { seq: number }[] }).users;
  t.ok(aliceEntry!.seq > 0 && bobEntry!.seq > 0, 'known users carry their last seq');

  const page = await alice.groupHereNow({ groupId: 'lobby' });
  t.match(page, { groupId: 'lobby', total: 2, onlineCount: 1, offset: 0, members: [{ id: 'alice', online: true }, { id: 'bob', online: false }] });
  const second = await alice.groupHereNow({ groupId: 'lobby', limit: 1, offset: 1 });
  t.match(second, { total: 2, limit: 1, offset: 1, members: [{ id: 'bob' }] });
  t.equal(second.members.length, 1);

  t.same(await alice.groupOnlineCount({ groupIds: ['lobby', 'dev', 'empty'] }), { counts: { lobby: 1, dev: 1, empty: 0 } });
  t.same(await alice.whereNow({ userId: 'alice' }), { userId: 'alice', groups: ['lobby', 'dev'] });
  t.same(await alice.whereNow({ userId: 'nobody' }), { userId: 'nobody', groups: [] });

  // Many queries at once: each reply settles its own call.
  const many = await Promise.all(Array.from({ length: 20 }, (_, i) => alice.whereNow({ userId: i % 2 ? 'alice' : 'bob' })));
  t.same(many.map((r) => r.groups.length), Array.from({ length: 20 }, (_, i) => (i % 2 ? 2 : 1)));
}, { users });

const limits = { maxQueryIds: 3, maxPageSize: 5, defaultPageSize: 5, maxQueryBytes: 256 };

forEachMode(t, 'errors: checked before sending, server codes passed through, timeout, not connected', async (t, mode) => {
  const gated = new GatedTransport();
  const alice = await mode.client(t, 'alice', { transport: gated.factory, timeoutMs: 2000 });

  await t.rejects(alice.hereNow({ userIds: [] }), { code: ERROR_CODE.INVALID_ARGUMENT, content: /non-empty array/ });
  await t.rejects(alice.hereNow({ userIds: ['a/b'] }), { code: 400, content: /userIds\[0\] "a\/b"/ });
  await t.rejects(alice.groupHereNow({ groupId: '#' }), { code: 400, content: /groupId "#" is not a valid id: contains '#'/ });
  await t.rejects(alice.groupHereNow({ groupId: 'g', limit: -1 }), { code: 400, content: /limit must be a non-negative integer/ });
  await t.rejects(alice.groupHereNow({ groupId: 'g', offset: 1.5 }), { code: 400, content: /offset/ });
  await t.rejects(alice.whereNow({} as never), { code: 400, content: /userId undefined is not a valid id: not a string/ });
  await t.rejects(alice.groupOnlineCount({ groupIds: '$x' } as never), { code: 400 });
  t.equal(gated.count('reply'), 0, 'nothing invalid was sent');

  // The server's limits: 413, with its words.
  const failed: { code: number; content: string }[] = [];
  await alice.hereNow({ userIds: ['a', 'b', 'c', 'd'], onFailed: (e) => failed.push(e) }).catch(() => {});
  t.match(failed, [{ code: ERROR_CODE.TOO_LARGE, content: /4 userIds is over the limit of 3 per call/ }], 'onFailed gets the server code');
  await t.rejects(alice.groupHereNow({ groupId: 'g', limit: 6 }), { code: 413, content: /limit 6 is over the page size limit of 5/ });
  t.same(await alice.groupOnlineCount({ groupIds: ['a', 'b', 'c'] }), { counts: { a: 0, b: 0, c: 0 } }, 'at the limit is fine');
  // Over the request size limit the server cannot read the id and answers `"id": null`: with one call
  // in flight, that is the call's answer.
  const long = ['a', 'b', 'c'].map((c) => c.repeat(128));
  await t.rejects(alice.hereNow({ userIds: long }), { code: ERROR_CODE.TOO_LARGE, content: /over the 256-byte limit/ });

  // A server that does not answer: 408 after timeoutMs.
  gated.swallowReplies();
  await t.rejects(alice.whereNow({ userId: 'alice' }), { code: ERROR_CODE.TIMEOUT, content: /no reply to whereNow within 2000 ms/ });
  gated.swallowReplies(false);

  // A reply that comes too late: held until the next query has been acknowledged, after the timeout.
  const errors = new Recorder(alice, ['ERROR']);
  const acked = gated.count('query-acked');
  gated.holdNextReplyUntil(acked + 2, 'query-acked');
  await t.rejects(alice.groupOnlineCount({ groupIds: ['g'] }), { code: ERROR_CODE.TIMEOUT });
  const replies = gated.count('reply');
  t.same(await alice.whereNow({ userId: 'alice' }), { userId: 'alice', groups: [] }, 'the next call gets its own reply');
  t.equal(gated.count('reply'), replies + 2, 'after the late reply, which settled nothing');
  t.same(errors.all, [], 'and was no error either');

  await alice.disconnect();
  const error = await alice.groupOnlineCount({ groupIds: ['g'] }).catch((e: unknown) => e);
  t.type(error, PresenceClientError);
  t.match(error, { code: ERROR_CODE.NOT_CONNECTED, content: /disconnected/ });
}, { users, serve: limits, attach: limits });

forEachMode(t, 'a call in flight when the link breaks fails with 409; the reply topic is subscribed again after the reconnect', async (t, mode) => {
  // serve: the broker destroys the socket; attach: the link to Mosquitto is cut.
  const line = await mode.droppable(t, 'alice-1');
  const gated = new GatedTransport();
  const alice = await mode.client(t, 'alice', { url: line.url, clientId: 'alice-1', transport: gated.factory, reconnectPeriodMs: 100 });
  const connection = new Recorder(alice, ['CONNECTION']);
  t.same(await alice.whereNow({ userId: 'alice' }), { userId: 'alice', groups: [] });

  gated.swallowReplies();
  const acked = gated.count('query-acked');
  const inFlight = alice.hereNow({ userIds: ['alice'] }).catch((e: unknown) => e);
  await gated.reached('query-acked', acked + 1);
  line.drop();
  t.match(await inFlight, { code: ERROR_CODE.NOT_CONNECTED });
  gated.swallowReplies(false);
  await connection.find((r) => r.payload.status === 'connected', 'reconnected');

  const replies = gated.count('reply');
  t.match(await alice.hereNow({ userIds: ['alice'] }), { users: [{ id: 'alice', online: true }] }, 'queries work on the new connection');
  t.equal(gated.count('reply'), replies + 1, 'exactly one reply');
}, { users });

forEachMode(t, 'TCP no-delay on the client socket, first connection and reconnects', async (t, mode) => {
  const line = await mode.droppable(t, 'alice-nd');
  const noDelay = new Set<Socket>();
  const original = Socket.prototype.setNoDelay;
  Socket.prototype.setNoDelay = function (this: Socket, on?: boolean) {
    if (on !== false) noDelay.add(this);
    return original.call(this, on);
  };
  t.teardown(() => {
    Socket.prototype.setNoDelay = original;
  });
  const alice = await mode.client(t, 'alice', { url: line.url, clientId: 'alice-nd', reconnectPeriodMs: 100 });
  const connection = new Recorder(alice, ['CONNECTION']);
  const { port } = new URL(line.url);
  // Sockets towards the port the client dials are the client's (the broker's, or the relay's, own
  // sockets have it as their local port; the bridge and the relay dial Mosquitto's port, not this one).
  const clientSockets = () => [...noDelay].filter((s) => String(s.remotePort) === port);
  t.equal(clientSockets().length, 1, 'the connection to the broker is unbuffered');
  line.drop();
  await connection.find((r) => r.payload.status === 'connected', 'reconnected');
  t.equal(clientSockets().length, 2, 'and so is the one after the reconnect');
  t.not(clientSockets()[0]!.localPort, clientSockets()[1]!.localPort, 'two different connections');
}, { users });

/** A small deterministic PRNG, so a failing churn can be replayed. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = s;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

interface Churner {
  id: string;
  client: PresenceClient | undefined;
  member: boolean;
}

/**
 * Users coming, going, joining and leaving one group, from a few workers in parallel, until stopped.
 * Each user's steps run one at a time, so the test knows the truth: who is a member, who is online.
 */
function churn(t: Test, mode: Mode, group: string, count: number, seed: number) {
  const next = random(seed);
  const users: Churner[] = Array.from({ length: count }, (_, i) => ({ id: `u${i}`, client: undefined, member: false }));
  let stopped = false;
  let steps = 0;
  t.teardown(() => Promise.all(users.map((u) => u.client?.disconnect())));
  const step = async (u: Churner) => {
    if (!u.client) {
      u.client = await connect({ url: mode.mqttUrl, id: u.id, password: mode.credentials(u.id).password, clientId: `${u.id}-${steps}`, reconnectPeriodMs: 0 });
      // Membership survives the disconnect; a member coming back re-enters (no second join).
      if (u.member) await u.client.subscribeGroup({ groupIds: [group] });
      return;
    }
    const r = next();
    if (!u.member && r < 0.6) {
      await u.client.subscribeGroup({ groupIds: [group] });
      u.member = true;
    } else if (u.member && r < 0.4) {
      await u.client.unsubscribeGroup({ groupIds: [group] });
      u.member = false;
    } else {
      const c = u.client;
      u.client = undefined;
      await c.disconnect();
    }
  };
  const workers = [0, 1, 2].map(async (w) => {
    const mine = users.filter((_, i) => i % 3 === w);
    while (!stopped) {
      await step(mine[Math.floor(next() * mine.length)]!);
      steps++;
    }
  });
  return {
    users,
    get steps() {
      return steps;
    },
    async stop() {
      stopped = true;
      await Promise.all(workers);
    },
    /** member id -> online, as the churn left it. */
    truth(): Map<string, boolean> {
      return new Map(users.filter((u) => u.member).map((u) => [u.id, u.client !== undefined]));
    },
  };
}

const asMap = (members: { id: string; online: boolean }[]) => new Map(members.map((m) => [m.id, m.online]));
const same = (a: Map<string, boolean>, b: Map<string, boolean>) => a.size === b.size && [...a].every(([id, on]) => b.get(id) === on);
const key = (e: { id: string; seq: number }) => `${e.id}@${e.seq}`;
/** The events the client received while its last reply was held back: the broker sent them after the reply. */
const behindReply = (gated: GatedTransport) =>
  gated.passedHeldReply.map((m) => key(JSON.parse(Buffer.from(m.payload).toString()) as { id: string; seq: number }));

forEachMode(t, 'groupHereNow snapshots under churn: events racing the query are applied after it, none lost, none doubled', async (t, mode) => {
  const group = 'room';
  const watcher = await mqttClient(t, mode.mqttUrl, { ...mode.credentials('watcher'), clientId: 'raw-watcher' });
  const published = new Inbox(watcher);
  await subscribe(watcher, `presence/group/${group}`);

  const gated = new GatedTransport();
  const observer = await mode.client(t, 'observer', { transport: gated.factory });
  const handled: GroupPresenceEvent[] = [];
  observer.on('GROUP_PRESENCE', (event) => handled.push(event));
  await observer.subscribeGroupPresence({ groupIds: [group] });
  t.same(observer.groupMembers(group), { groupId: group, complete: false, onlineCount: undefined, members: [] });

  const activity = churn(t, mode, group, CHURNERS.length, 7);
  const rounds: { seqs: Map<string, number>; before: number; after: number; heldIn: number }[] = [];
  for (let round = 0; round < 4; round++) {
    // Gates: the query leaves after 3 more group events (the answer reflects them, so they must be
    // dropped), and its reply reaches the client after 3 more (newer than the answer: applied after it).
    gated.holdNextQuery(3);
    gated.holdNextReply(3);
    const before = handled.length;
    const groupMessages = gated.count('group');
    let delivered = -1;
    const result = await observer.groupHereNow({ groupId: group, limit: 100, onSuccess: () => (delivered = handled.length) });
    t.equal(handled.length, before, `round ${round}: nothing reached the handlers while the snapshot was in flight`);
    t.equal(delivered, before, 'onSuccess ran before any held event was applied');
    const heldIn = gated.count('group') - groupMessages;
    t.ok(heldIn >= 6, `round ${round}: ${heldIn} group events raced the query`);
    t.equal(result.members.length, result.total, 'one page holds the whole group');
    t.match(observer.groupMembers(group), { complete: true }, 'the roster is complete after a whole-group snapshot');
    rounds.push({ seqs: new Map(result.members.map((m) => [m.id, m.seq])), before, after: handled.length, heldIn });
    // Held events are handed over after the call settles. Round 0 is followed at once by the next
    // snapshot, whose hold takes over what round 0 still held; from round 1 on, the events that came
    // after the reply (newer than the answer) must reach the handlers before the next round starts.
    if (round > 0) {
      const newer = behindReply(gated);
      t.ok(newer.length >= 3, `round ${round}: ${newer.length} events came after the reply`);
      const missing = () => newer.filter((k) => !handled.some((e) => key(e) === k));
      await until(observer, () => missing().length === 0, () => `round ${round}: events newer than the snapshot never handled: ${JSON.stringify(missing())}`);
      t.pass(`round ${round}: the events newer than the snapshot were applied after it`);
    }
  }
  await activity.stop();
  t.ok(activity.steps > 0);
  const truth = activity.truth();

  // The server may still be closing the last churners' sockets. Wait for the roster to reach the truth
  // (on events), then ask: once the server's answer is the truth too, nothing is left in flight, since the
  // answer comes after every event it reflects. An answer that is not yet the truth means more events come.
  const roster = () => asMap(observer.groupMembers(group)!.members);
  for (let settled = false, tries = 0; !settled; tries++) {
    if (tries === 20) throw new Error(`the server never agreed with the truth ${JSON.stringify([...truth])}`);
    await until(observer, () => same(roster(), truth), () => `roster ${JSON.stringify([...roster()])} vs truth ${JSON.stringify([...truth])}`);
    const fresh = await observer.groupHereNow({ groupId: group, limit: 100 });
    rounds.push({ seqs: new Map(fresh.members.map((m) => [m.id, m.seq])), before: handled.length, after: handled.length, heldIn: 0 });
    settled = same(asMap(fresh.members), truth);
  }
  t.pass('a fresh groupHereNow agrees with the truth');
  t.same(roster(), truth, 'so does the roster kept from events');
  t.equal(observer.groupMembers(group)!.onlineCount, [...truth.values()].filter(Boolean).length, 'and its online count');

  // Everything published reached the raw watcher too (it ends with each member's final state).
  const lastOf = new Map<string, Record<string, unknown>>();
  await published.find(() => {
    for (const m of published.all) lastOf.set(m.json.id as string, m.json);
    const state = new Map([...lastOf].filter(([, e]) => e.action !== 'leave').map(([id, e]) => [id, e.action !== 'offline']));
    return same(state, truth);
  }, 'the raw watcher to see the final state');

  const keys = handled.map(key);
  t.equal(new Set(keys).size, keys.length, 'no event reached the handlers twice');
  const publishedKeys = new Set(published.all.map((m) => key(m.json as { id: string; seq: number })));
  t.same(keys.filter((k) => !publishedKeys.has(k)), [], 'handlers saw only events the server published');
  const reflected = (e: { id: string; seq: number }) => rounds.some((r) => (r.seqs.get(e.id) ?? -1) >= e.seq);
  const lost = published.all.map((m) => m.json as unknown as GroupPresenceEvent).filter((e) => !keys.includes(key(e)) && !reflected(e));
  t.same(lost, [], 'every published event reached the handlers or was in a snapshot handed over');
  for (const [i, r] of rounds.entries()) {
    const stale = handled.slice(r.after).filter((e) => e.seq <= (r.seqs.get(e.id) ?? -1));
    t.same(stale, [], `round ${i}: nothing at or below the snapshot came after it`);
  }
  const perUser = new Map<string, number>();
  for (const e of handled) {
    t.ok(e.seq > (perUser.get(e.id) ?? -1), `events of ${e.id} in seq order`);
    perUser.set(e.id, e.seq);
  }
  t.ok(handled.length > rounds.length, `${handled.length} events handled, ${published.all.length} published`);
}, { users });

forEachMode(t, 'hereNow under churn: a watched user\'s events racing it arrive after it, newer ones only', async (t, mode) => {
  const gated = new GatedTransport();
  const observer = await mode.client(t, 'observer', { transport: gated.factory });
  const seen = new Recorder(observer, ['USER_PRESENCE', 'SNAPSHOT']);
  const activity = churn(t, mode, 'elsewhere', 9, 11);
  const ids = activity.users.map((u) => u.id);
  await observer.subscribeUserPresence({ userIds: ids });

  const rounds: { seqs: Map<string, number>; after: number }[] = [];
  for (let round = 0; round < 3; round++) {
    gated.holdNextQuery(3, 'user');
    gated.holdNextReply(3, 'user');
    const before = seen.all.length;
    const result = await observer.hereNow({ userIds: ids });
    t.equal(seen.all.length, before, `round ${round}: nothing reached the handlers while hereNow was in flight`);
    rounds.push({ seqs: new Map(result.users.map((u) => [u.id, u.seq])), after: seen.all.length });
    // As in the group test: round 0's held events pass to round 1's hold; from round 1 on, the user
    // events that came after the reply (newer than the answer) must reach the handlers.
    if (round > 0) {
      const newer = behindReply(gated);
      t.ok(newer.length >= 3, `round ${round}: ${newer.length} events came after the reply`);
      const applied = () => seen.all.map((r) => key(r.payload as unknown as { id: string; seq: number }));
      const missing = () => newer.filter((k) => !applied().includes(k));
      await until(observer, () => missing().length === 0, () => `round ${round}: events newer than hereNow never applied: ${JSON.stringify(missing())}`);
      t.pass(`round ${round}: the events newer than hereNow were applied after it`);
    }
  }
  await activity.stop();
  const truth = new Map(activity.users.map((u) => [u.id, u.client !== undefined]));
  const known = () => new Map(ids.map((id) => [id, observer.presenceOf(id)?.action === 'online']));
  // As above: once the server's answer is the truth, every event has reached the observer.
  for (let settled = false, tries = 0; !settled; tries++) {
    if (tries === 20) throw new Error(`the server never agreed with the truth ${JSON.stringify([...truth])}`);
    await until(observer, () => same(known(), truth), () => JSON.stringify([...known()]));
    const fresh = await observer.hereNow({ userIds: ids });
    rounds.push({ seqs: new Map(fresh.users.map((u) => [u.id, u.seq])), after: seen.all.length });
    settled = same(asMap(fresh.users), truth);
  }
  t.pass('hereNow agrees with the truth');
  t.same(known(), truth, 'and so does presenceOf');

  const events = seen.all.map((r) => r.payload as unknown as { id: string; seq: number });
  t.equal(new Set(events.map(key)).size, events.length, 'no event twice');
  for (const [i, r] of rounds.entries()) {
    const stale = events.slice(r.after).filter((e) => e.seq <= (r.seqs.get(e.id) ?? -1));
    t.same(stale, [], `round ${i}: nothing at or below the snapshot came after it`);
  }
}, { users });

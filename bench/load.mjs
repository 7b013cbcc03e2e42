// The load generator: a process of its own, forked by bench/run.mjs with an IPC channel. It receives
// one scenario run ({scenario, port, flavor, sizes}), drives the broker with raw MQTT clients, and sends
// back one result. `flavor` says how presence is observed:
//   presence: the broker under test publishes presence itself (product: serve, or Mosquitto + attach);
//   by-hand:  the clients announce themselves (birth after CONNACK, a will, an offline before
//             DISCONNECT) on a plain broker: the anchor for latency, loss and storm;
//   none:     nothing is announced nor watched (the churn anchor: same generator, no presence).
// `announce` (clients follow the announcement protocol) is separate, since attach needs it too.
// `auth` (scenario 6, Mosquitto with the project's password file and ACL): every client logs in with
// its user id as username; a watcher of births (by-hand) needs the bridge's rights to read them, a
// watcher of presence events is an ordinary user.
import { performance } from 'node:perf_hooks';
import { benchPassword, connect, pool, summarize } from './lib/wire.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const json = (payload) => {
  try {
    return JSON.parse(payload.toString());
  } catch {
    return {};
  }
};
let connectRetries = 0;
/** Mass connects on a saturated machine occasionally see a reset before CONNACK: retry, and count it. */
async function connectRetrying(port, options, attempts = 3) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await connect(port, options);
    } catch (error) {
      if (attempt >= attempts) throw error;
      connectRetries++;
      await sleep(50 * attempt);
    }
  }
}
// The contract's announcement payload; the user id is in the topic. The offline a client publishes before
// DISCONNECT is marked graceful, as the thin client does: the bridge applies it at once. Unmarked, it
// would wait out the takeover window (docs/attach.md), and the next cycle's birth for the same client id,
// milliseconds later, would be a takeover: no offline, no online.
const announcement = (action, epoch, graceful = false) =>
  Buffer.from(JSON.stringify(graceful ? { action, data: {}, epoch, graceful } : { action, data: {}, epoch }));

/** A watcher client: records when each `<action>:<id>` event arrives and wakes whoever waits for it. */
class Watcher {
  constructor(conn) {
    this.conn = conn;
    this.arrivals = new Map();
    this.waiters = new Map();
    this.counts = new Map();
    this.onEvent = null;
    this.seen = new Set();
    this.duplicates = 0;
    conn.onMessage = (topic, payload, at) => {
      const event = json(payload);
      // QoS 1 is at least once: a repeat of the same event (same topic and seq) is dropped, as any
      // consumer does, and counted; a second event for the same change would carry another seq.
      if (typeof event.seq === 'number') {
        const copy = `${topic} ${event.seq}`;
        if (this.seen.has(copy)) return void this.duplicates++;
        this.seen.add(copy);
      }
      const id = event.id ?? topic.split('/')[2];
      const key = `${event.action}:${id}`;
      if (!this.countPrefix || String(id).startsWith(this.countPrefix)) this.counts.set(event.action, (this.counts.get(event.action) ?? 0) + 1);
      this.onEvent?.(key, at, event);
      if (this.track) this.arrivals.set(key, at);
      const waiter = this.waiters.get(key);
      if (waiter) {
        this.waiters.delete(key);
        waiter(at);
      }
    };
  }

  /**
   * `countPrefix`: only events of ids starting with it are counted. Set before SUBSCRIBE, since the
   * watcher's own online can arrive before its SUBACK (the broker routes it to the new subscription
   * while the SUBACK is still on its way).
   */
  static async open(port, clientId, filters, track = true, login = {}, countPrefix = undefined) {
    const watcher = new Watcher(await connect(port, { clientId, ...login }));
    watcher.track = track;
    watcher.countPrefix = countPrefix;
    await watcher.conn.subscribe(filters, 1);
    return watcher;
  }

  /** Resolves to the arrival time of `key` (already arrived or still to come), or null after timeoutMs. */
  arrival(key, timeoutMs = 10_000) {
    if (this.arrivals.has(key)) return Promise.resolve(this.arrivals.get(key));
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(key);
        resolve(null);
      }, timeoutMs);
      this.waiters.set(key, (at) => {
        clearTimeout(timer);
        resolve(at);
      });
    });
  }

  count(action) {
    return this.counts.get(action) ?? 0;
  }
}

/** Username and password for `user` when the broker authenticates, else nothing. */
const login = (auth, user) => (auth ? { username: user, password: benchPassword(user) } : {});
const watcherLogin = (auth, flavor) => login(auth, flavor === 'by-hand' ? 'bridge' : 'watcher');

const watchFilter = (flavor, kind = 'user') =>
  flavor === 'by-hand' ? (kind === 'user' ? 'presence/conn/+/+' : 'presence/group/+') : `presence/${kind}/+`;

async function until(check, timeoutMs) {
  const deadline = performance.now() + timeoutMs;
  while (!check() && performance.now() < deadline) await sleep(20);
  return check();
}

/** One client life: connect (with will and birth when announcing), hold, end (announced offline first). */
async function openClient(port, id, { announce, keepalive = 0, auth = false }) {
  const topic = `presence/conn/${id}/${id}`;
  const epoch = Math.random().toString(36).slice(2, 10);
  const will = announce ? { topic, payload: announcement('offline', epoch), retain: true } : undefined;
  const conn = await connect(port, { clientId: id, ...login(auth, id), keepalive, will });
  conn.epoch = epoch;
  if (announce) void conn.publish(topic, announcement('online', epoch), { retain: true });
  return conn;
}

async function closeClient(conn, id, { announce }) {
  if (announce) await conn.publish(`presence/conn/${id}/${id}`, announcement('offline', conn.epoch, true), { retain: true });
  await conn.end();
}

// 1. Churn: concurrency workers connect/disconnect as fast as they can; a watcher counts onlines.
// `ports` (cluster scenario): several nodes of one cluster, the workers dealt out round-robin, so each
// client id stays on one node; the watcher sits on the first. (Dealing each connection to the next node
// instead makes a reconnect that overtakes the old node's disconnect a cross-node move of the client id,
// rightly announced as nothing: no offline, no online, and the one-online-per-cycle count breaks.)
async function churn({ port, ports, flavor, announce, auth, concurrency, durationMs }) {
  const portOf = (worker) => (ports ? ports[worker % ports.length] : port);
  const watching = flavor !== 'none';
  const watcher = watching ? await Watcher.open(port, 'bench-churn-watcher', [watchFilter(flavor)], false, watcherLogin(auth, flavor)) : null;
  let cycles = 0;
  let onlines = 0;
  if (watcher) watcher.onEvent = (key) => key.startsWith('online:ch-') && onlines++;
  const started = performance.now();
  const deadline = started + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      const id = `ch-${w}`;
      while (performance.now() < deadline) {
        const conn = await openClient(portOf(w), id, { announce, auth });
        await closeClient(conn, id, { announce });
        cycles++;
      }
    }),
  );
  const elapsed = performance.now() - started;
  if (watcher) await until(() => onlines >= cycles, 15_000);
  await watcher?.conn.end();
  return {
    cycles,
    seconds: Math.round(elapsed) / 1000,
    cyclesPerSec: Math.round((cycles / elapsed) * 1000 * 10) / 10,
    expectedEvents: watching ? cycles : 0,
    deliveredEvents: watching ? onlines : 0,
  };
}

// 2. Latency: open loop at `rate` cycles/s; CONNACK -> online at the watcher.
async function latency({ port, flavor, announce, auth, rate, durationMs }) {
  const watcher = await Watcher.open(port, 'bench-lat-watcher', [watchFilter(flavor)], true, watcherLogin(auth, flavor));
  const samples = [];
  let missing = 0;
  const total = Math.max(1, Math.round((rate * durationMs) / 1000));
  const interval = 1000 / rate;
  const started = performance.now();
  const lives = [];
  for (let i = 0; i < total; i++) {
    const due = started + i * interval;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const id = `lat-${i}`;
    lives.push(
      (async () => {
        const conn = await openClient(port, id, { announce, auth });
        const at = await watcher.arrival(`online:${id}`);
        if (at === null) missing++;
        else samples.push(at - conn.connackAt);
        await closeClient(conn, id, { announce });
      })(),
    );
  }
  await Promise.all(lives);
  await watcher.conn.end();
  return { rate, cycles: total, expectedEvents: total, deliveredEvents: total - missing, ...summarize(samples) };
}

// 3. Loss: abrupt socket loss (TCP RST, no DISCONNECT) and silent clients (keepalive, no PINGREQ).
async function loss({ port, flavor, announce, abrupt, silent, keepalive }) {
  const watcher = await Watcher.open(port, 'bench-loss-watcher', [watchFilter(flavor)]);
  const conns = [];
  await pool(abrupt, 20, async (i) => {
    conns[i] = await openClient(port, `ab-${i}`, { announce });
  });
  await sleep(200);
  const abruptSamples = [];
  let missing = 0;
  for (let i = 0; i < abrupt; i++) {
    const id = `ab-${i}`;
    const arrival = watcher.arrival(`offline:${id}`);
    const t0 = performance.now();
    conns[i].reset();
    const at = await arrival;
    if (at === null) missing++;
    else abruptSamples.push(at - t0);
  }
  // Silent: connect, then never send another byte; the broker must notice within 1.5 x keepalive.
  const silentSamples = [];
  let silentMissing = 0;
  await Promise.all(
    Array.from({ length: silent }, async (_, i) => {
      const id = `si-${i}`;
      const conn = await openClient(port, id, { announce, keepalive });
      const at = await watcher.arrival(`offline:${id}`, keepalive * 1500 + 10_000);
      if (at === null) silentMissing++;
      else silentSamples.push(at - conn.connackAt);
      conn.socket.destroy();
    }),
  );
  await watcher.conn.end();
  return {
    abrupt: { expectedEvents: abrupt, deliveredEvents: abrupt - missing, ...summarize(abruptSamples) },
    silent: { keepalive, expectedEvents: silent, deliveredEvents: silent - silentMissing, ...summarize(silentSamples) },
  };
}

// 4. Scale and memory: users each in 3 of `groups` groups; the runner probes the broker at each phase.
async function memory({ port, flavor, users, groups, concurrency }, phase) {
  // The product's watcher reads user and group events alike: a retained user event followed by group
  // events is the ordering the publisher must get right, or the watcher's counts come up short.
  const watching = flavor === 'presence';
  // Only the load's users count: the watcher's own online may arrive twice (live, and retained if
  // its SUBSCRIBE lands while the event is being stored), which MQTT allows, and may arrive before the
  // SUBACK, so the filter is in place before the SUBSCRIBE goes out.
  const watcher = watching ? await Watcher.open(port, 'bench-mem-watcher', ['presence/user/+', 'presence/group/+'], false, {}, 'user-') : null;
  await phase('baseline');
  const conns = new Array(users);
  const groupsOf = (i) => [i % groups, (i + 33) % groups, (i + 67) % groups].map((g) => `group/g${g}`);
  const up = async () => {
    await pool(users, concurrency, async (i) => {
      const conn = await connectRetrying(port, { clientId: `mem-${i}`, username: `user-${i}` });
      await conn.subscribe(groupsOf(i), 1);
      conns[i] = conn;
    });
  };
  const down = () => pool(users, concurrency, (i) => conns[i].end());
  const reached = (counts) => Object.entries(counts).every(([action, n]) => watcher.count(action) >= n);
  const expect = async (counts) => (watcher ? until(() => reached(counts), 60_000) : true);
  const n = users;
  let complete = true;
  await up(); // user online + 3 joins each
  complete &&= await expect({ online: n, join: 3 * n });
  await phase('connected');
  await down(); // user offline + 3 group offlines each
  complete &&= await expect({ offline: 4 * n });
  await phase('disconnected');
  await up(); // still members: user online + 3 group onlines each, no join
  complete &&= await expect({ online: 5 * n });
  await down();
  complete &&= await expect({ offline: 8 * n });
  await phase('disconnected-again');
  const counts = watcher ? Object.fromEntries(watcher.counts) : {};
  await watcher?.conn.end();
  return {
    users,
    groups,
    expectedEvents: watching ? 16 * n : 0,
    deliveredEvents: watching ? (counts.join ?? 0) + (counts.offline ?? 0) + (counts.online ?? 0) : 0,
    duplicateCopies: watcher?.duplicates ?? 0,
    complete,
    connectRetries,
  };
}

// 5. Group storm: `members` join one group within `spreadMs`, then leave it the same way; `watchers`
// watch the group. Delay: SUBSCRIBE sent (or DISCONNECT / announced offline) -> event at each watcher.
async function storm({ port, flavor, members, watchers, spreadMs }) {
  const byHand = flavor === 'by-hand';
  const watching = await Promise.all(
    Array.from({ length: watchers }, (_, w) => Watcher.open(port, `bench-storm-w${w}`, ['presence/group/storm'], false)),
  );
  const sentAt = new Map();
  const delays = { join: [], offline: [] };
  let messages = 0;
  const arrived = (key, at) => {
    const t0 = sentAt.get(key);
    const action = key.slice(0, key.indexOf(':'));
    if (t0 !== undefined && delays[action]) delays[action].push(at - t0);
  };
  for (const watcher of watching) {
    watcher.onEvent = (key, at, event) => {
      messages++;
      if (event.action !== 'interval') return arrived(key, at);
      // Interval mode: each listed id is that member's change reaching this watcher.
      for (const id of event.joined ?? []) arrived(`join:${id}`, at);
      for (const id of event.offline ?? []) arrived(`offline:${id}`, at);
    };
  }
  const conns = new Array(members);
  const paced = async (fn) => {
    const started = performance.now();
    const interval = spreadMs / members;
    const runs = [];
    for (let i = 0; i < members; i++) {
      const wait = started + i * interval - performance.now();
      if (wait > 1) await sleep(wait);
      runs.push(fn(i));
    }
    await Promise.all(runs);
  };
  const event = (action, id) => Buffer.from(JSON.stringify({ groupId: 'storm', action, id, time: Date.now(), data: {} }));
  await paced(async (i) => {
    const id = `m-${i}`;
    const conn = await connectRetrying(port, { clientId: id, username: id });
    conns[i] = conn;
    sentAt.set(`join:${id}`, performance.now());
    await conn.subscribe('group/storm', 1);
    if (byHand) await conn.publish('presence/group/storm', event('join', id));
  });
  const expected = members * watchers;
  const phaseDone = (action) => until(() => delays[action].length >= expected, 60_000);
  await phaseDone('join');
  await paced(async (i) => {
    const id = `m-${i}`;
    sentAt.set(`offline:${id}`, performance.now());
    if (byHand) await conns[i].publish('presence/group/storm', event('offline', id));
    await conns[i].end();
  });
  await phaseDone('offline');
  await Promise.all(watching.map((w) => w.conn.end()));
  return {
    members,
    watchers,
    spreadMs,
    expectedEvents: expected * 2,
    deliveredEvents: delays.join.length + delays.offline.length,
    messagesPerWatcher: Math.round(messages / watchers),
    connectRetries,
    join: summarize(delays.join),
    offline: summarize(delays.offline),
  };
}

// 6. Node death (cluster): `users` clients on the node at `deadPort`, a watcher on the node at `port`;
// at phase 'ready' the bench kills -9 the first node; the result has when each offline arrived
// (epoch ms, the bench's clock), to be set against the moment of the kill.
async function nodeDeath({ port, deadPort, users, concurrency }, phase) {
  const watcher = await Watcher.open(port, 'bench-death-watcher', ['presence/user/+'], true, {}, 'nd-');
  const arrivals = [];
  const reasons = {};
  watcher.onEvent = (key, _at, event) => {
    if (event.action !== 'offline' || !String(event.id).startsWith('nd-')) return;
    arrivals.push(Date.now());
    reasons[event.reason] = (reasons[event.reason] ?? 0) + 1;
  };
  await pool(users, concurrency, (i) => connectRetrying(deadPort, { clientId: `nd-${i}`, username: `nd-${i}` }));
  const online = await until(() => watcher.count('online') >= users, 30_000);
  await phase('ready');
  const complete = await until(() => arrivals.length >= users, 60_000);
  await sleep(500); // anything more (a repeat) would arrive now
  await watcher.conn.end();
  return { users, online, complete, offlines: arrivals.length, reasons, firstAt: Math.min(...arrivals), lastAt: Math.max(...arrivals) };
}

const scenarios = { churn, latency, loss, memory, storm, nodeDeath };

process.on('message', async (message) => {
  if (message?.type !== 'run') return;
  const phase = (name) =>
    new Promise((resolve) => {
      const onContinue = (reply) => {
        if (reply?.type === 'continue' && reply.phase === name) {
          process.off('message', onContinue);
          resolve();
        }
      };
      process.on('message', onContinue);
      process.send({ type: 'phase', phase: name });
    });
  try {
    const result = await scenarios[message.scenario](message.options, phase);
    process.send({ type: 'result', result }, () => process.exit(0));
  } catch (error) {
    process.send({ type: 'error', error: String(error?.stack ?? error) }, () => process.exit(1));
  }
});

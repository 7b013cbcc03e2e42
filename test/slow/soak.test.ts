/**
 * Soak: SOAK_SECONDS (default 20) of churn against the running broker with a grace window: users
 * connecting and leaving on several devices, takeovers (same and other user), abrupt socket losses at
 * random moments (mid-CONNECT included), group subscribe/unsubscribe and member announcements. Then
 * everything must be gone: no connection, no online user, no pending grace timer, memberships equal
 * to the truth, every event a watcher saw consistent, the heap back near its baseline.
 * `npm run soak` runs it longer.
 */
import { connect as tcpConnect } from 'node:net';
import { connect, type MqttClient } from 'mqtt';
import t from 'tap';
import { WAIT_MS } from '../fixtures/mqtt.js';
import { Rng, generate, heapAfterGc, pool, waitFor } from '../fixtures/raw-sessions.js';
import type { GraceTimers } from '../../src/core/grace-timers.js';
import { serve } from '../fixtures/server.js';
import { activeUsers } from '../fixtures/store.js';
import { EventAudit, trackTruth } from '../fixtures/truth.js';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 20);
const SEED = Number(process.env.SOAK_SEED ?? 4242);
const GRACE_MS = 150;
const USERS = Array.from({ length: 16 }, (_, i) => `soak-u${i}`);
const GROUPS = ['s1', 's2', 's3', 's4'];
const WORKERS = 10;

/** Connects with mqtt.js; resolves undefined if the broker refused or the socket died first. */
const everyClient = new Set<MqttClient>();
function open(url: string, options: Parameters<typeof connect>[1]): Promise<MqttClient | undefined> {
  return new Promise((resolve) => {
    const c = connect(url, { reconnectPeriod: 0, connectTimeout: WAIT_MS, protocolVersion: 4, ...options });
    everyClient.add(c);
    c.once('close', () => {
      everyClient.delete(c);
      c.end(true); // nothing left pending in mqtt.js after its socket is gone
    });
    c.on('error', () => {});
    c.once('connect', () => resolve(c));
    c.once('close', () => resolve(undefined));
  });
}

/** Every wait in the churn is bounded: a broker that stops answering is a finding, not a hang. */
const stalls: string[] = [];
function bounded<T>(promise: Promise<T>, label: string | (() => string), c?: MqttClient): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stalls.push(typeof label === 'string' ? label : label());
      resolve(undefined);
    }, WAIT_MS);
    // a connection that closed meanwhile (taken over, lost) gets no answer, rightly
    c?.once('close', () => (clearTimeout(timer), resolve(undefined)));
    promise.then(
      (value) => (clearTimeout(timer), resolve(value)),
      (error: unknown) => (clearTimeout(timer), reject(error)),
    );
  });
}

function diagnose(c: MqttClient): string {
  const outgoing = Object.keys((c as unknown as { outgoing: object }).outgoing ?? {}).length;
  return `connected=${c.connected} disconnecting=${c.disconnecting} destroyed=${c.stream?.destroyed} inflight=${outgoing}`;
}

/** Ends a client one of the ways a real one ends; resolves once its socket is closed. */
function finish(how: number, c: MqttClient): Promise<void> {
  return new Promise((resolve) => {
    if (c.stream?.destroyed) return resolve();
    c.stream.once('close', () => resolve());
    switch (how) {
      case 0:
        c.end(); // DISCONNECT
        break;
      case 1:
        c.stream.destroy(); // network lost, no DISCONNECT
        break;
      default:
        c.stream.destroy(new Error('network unreachable')); // the socket fails
    }
  });
}

t.test(`soak: ${SECONDS} s of churn and abrupt losses leave nothing behind`, async (t) => {
  const { server, mqttUrl, logs } = await serve(t, { graceMs: GRACE_MS, logLevel: 'warn' });
  const { aedes, tracker } = server.broker;
  const truth = trackTruth(aedes);
  const registry = aedes as unknown as { connectedClients: number };
  const graceTimers = (tracker as unknown as { grace: GraceTimers }).grace;

  // the watcher audits every event as it arrives instead of keeping them
  const audit = new EventAudit();
  const watch = await open(mqttUrl, { clientId: 'soak-watcher' });
  t.ok(watch, 'watcher connected');
  watch!.on('message', (topic, payload, packet) => audit.feed(topic, payload, packet.retain));
  await watch!.subscribeAsync(['presence/user/+', 'presence/group/+'], { qos: 1 });
  t.teardown(() => {
    for (const c of everyClient) c.end(true);
  });

  const warm = await open(mqttUrl, { clientId: 'soak-warm', username: USERS[0] });
  await warm!.subscribeAsync('group/s1');
  await new Promise<void>((resolve) => warm!.end(false, {}, () => resolve()));
  await waitFor(async () => (await tracker.stats()).connections === 1, 'the warm-up client to be gone');
  const baseline = heapAfterGc();

  const deadline = Date.now() + SECONDS * 1000;
  const counts = { sessions: 0, refusedOrLost: 0, midConnect: 0, takeovers: 0 };

  const churn = (worker: number) => async () => {
    const rng = new Rng(SEED + worker);
    const live: MqttClient[] = [];
    while (Date.now() < deadline) {
      const user = rng.pick(USERS);
      const r = rng.int(100);
      if (r < 10) {
        // a raw socket that dies at a random moment around its CONNECT
        counts.midConnect++;
        await bounded(new Promise<void>((resolve) => {
          const socket = tcpConnect(server.mqttPort, '127.0.0.1');
          socket.on('error', () => {});
          socket.on('close', () => resolve());
          socket.on('connect', () => {
            socket.write(generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: `${user}-raw${rng.int(2)}`, username: user, keepalive: 0 }));
            const kill = () => socket.destroy();
            const delay = rng.int(4);
            if (delay === 0) kill();
            else if (delay === 1) setImmediate(kill);
            else setTimeout(kill, delay - 1);
          });
        }), 'a killed raw socket to close');
        continue;
      }
      if (r < 55 || live.length === 0) {
        // a device comes online: the user's own device ids, sometimes another user's (takeover)
        const device = rng.chance(0.1) ? `shared-d${rng.int(2)}` : `${user}-d${rng.int(3)}`;
        if (device.startsWith('shared')) counts.takeovers++;
        const c = await bounded(open(mqttUrl, { clientId: device, username: user, clean: rng.chance(0.8), keepalive: 30 }), `CONNACK for ${device}`);
        counts.sessions++;
        if (!c) {
          counts.refusedOrLost++;
          continue;
        }
        live.push(c);
        continue;
      }
      const c = live[rng.int(live.length)]!;
      if (!c.connected) {
        live.splice(live.indexOf(c), 1);
        continue;
      }
      const g = rng.pick(GROUPS);
      try {
        if (r < 70) await bounded(c.subscribeAsync(rng.pick([`group/${g}`, `group/${g}/chat`, 'group/+', `group/${g}/#`]), { qos: rng.int(2) as 0 | 1 }), `SUBACK for ${c.options.clientId}`, c);
        else if (r < 80) await bounded(c.unsubscribeAsync(rng.pick([`group/${g}`, `group/${g}/chat`, 'group/+'])), `UNSUBACK for ${c.options.clientId}`, c);
        else if (r < 85) {
          const username = (c.options.username ?? c.options.clientId) as string;
          await bounded(c.publishAsync(`presence/member/${g}/${username}`, rng.chance(0.6) ? '{"action":"join"}' : '', { qos: 1, retain: true }), `PUBACK for ${c.options.clientId}`, c);
        } else {
          live.splice(live.indexOf(c), 1);
          const how = rng.int(3);
          await bounded(finish(how, c), () => `the close of ${c.options.clientId} (${['DISCONNECT', 'destroy', 'error'][how]}; ${diagnose(c)})`);
        }
      } catch {
        // the connection went away meanwhile (taken over, or lost): that is the churn
        live.splice(live.indexOf(c), 1);
        if (!c.stream?.destroyed) c.stream?.destroy();
      }
    }
    await Promise.all(live.map((c) => bounded(finish(0, c), () => `the final close of ${c.options.clientId} (${diagnose(c)})`)));
  };

  await pool(WORKERS, Array.from({ length: WORKERS }, (_, w) => churn(w)));
  t.same(stalls, [], 'the broker answered everything in time');
  t.ok(counts.sessions > 50, `ran ${counts.sessions} sessions, ${counts.midConnect} sockets killed around CONNECT, ${counts.takeovers} cross-user device ids, ${counts.refusedOrLost} lost before CONNACK`);

  // Every connection is gone; then every grace window runs out.
  const registered = aedes as unknown as { clients: Record<string, { closed: boolean; connected: boolean; conn: { destroyed: boolean } }> };
  await waitFor(() => registry.connectedClients === 1 && server.broker.connectedClients === 1, 'only the watcher to remain connected').catch(async (error: Error) => {
    const clients = Object.entries(registered.clients).map(([id, c]) => `${id}: closed=${c.closed} connected=${c.connected} destroyed=${c.conn.destroyed}`);
    const sessions = (server.broker as unknown as { ctx: { sessions: { all(): { id: string; closed: boolean }[] } } }).ctx.sessions.all().map((c) => `${c.id}: closed=${c.closed}`);
    throw new Error(`${error.message}: aedes counts ${registry.connectedClients}, registered [${clients.join('; ')}], adapter sessions [${sessions.join('; ')}], tracker ${JSON.stringify(await tracker.stats())}`);
  });
  await waitFor(async () => {
    await tracker.settled();
    return graceTimers.size === 0 && (await tracker.stats()).onlineUsers === 1;
  }, 'every grace window to run out');
  await tracker.settled();
  await server.broker.publisher.drained();

  const stats = await tracker.stats();
  t.equal(stats.connections, 1, 'no leaked connection: only the watcher');
  t.equal(stats.onlineUsers, 1, 'nobody but the watcher is online');
  t.same(await activeUsers(tracker.store, ['soak-watcher', ...USERS]), ['soak-watcher'], 'no user with a connection or a pending offline');
  t.equal(graceTimers.size, 0, 'no grace timer pending');
  for (const user of USERS) {
    const groups = [...(truth.members.get(user) ?? [])].sort();
    t.same([...((await tracker.user(user))?.groups ?? [])].sort(), groups, `memberships of ${user}`);
  }
  t.equal(stats.memberships, truth.total(), 'no membership beyond the truth');
  const counts2 = await tracker.groupOnlineCounts(GROUPS);
  t.same([...counts2.values()], GROUPS.map(() => 0), 'every group count is 0');

  // what the watcher saw agrees: every user's last event is offline
  await waitFor(() => USERS.every((u) => audit.lastUserAction.get(u) !== 'online'), 'the watcher to see every offline');
  t.same(audit.problems, [], `${audit.events} events, all consistent`);
  t.notOk(logs.some((l) => l.level === 'error'), 'no error was logged');

  const growth = heapAfterGc() - baseline;
  t.ok(growth < 16 * 1024 * 1024, `heap after GC is ${(growth / 1024 / 1024).toFixed(1)} MiB from its baseline (bound 16 MiB)`);
});

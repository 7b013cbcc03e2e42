/**
 * Protocol fuzz against the running broker over raw TCP: garbage, mutated packets, huge and
 * ill-formed topics and ids, wills on odd topics, subscribe/unsubscribe floods and spoofing
 * publishes. Deterministic (seeded), bounded. Afterwards the broker must still serve, its heap must
 * be back within bounds, and its presence state must equal the truth.
 */
import t, { type Test } from 'tap';
import { WAIT_MS, client, watcher, type Inbox } from './fixtures/mqtt.js';
import { Rng, brokerMustAnswer, generate, heapWhenIdle, mutate, patchBytes, pool, rawSession, waitFor, type Ending } from './fixtures/raw-sessions.js';
import { serve } from './fixtures/server.js';
import { EventAudit, trackTruth } from './fixtures/truth.js';

const SEED = Number(process.env.FUZZ_SEED ?? 7_2026);
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const MARK = 'SPOOF-MARK';
const ENDINGS: Ending[] = ['disconnect', 'destroy', 'end'];
/**
 * Below the default (1000) so that the persistent sessions the fuzz leaves behind fill their queues in
 * round 1. (20 since malformed strings close a connection [MQTT-1.5.3]: mutated streams end earlier,
 * so fewer events reach the queues than with the cap of 100 before.)
 */
const QUEUE_CAP = 20;

const GROUPS = ['g1', 'g2', 'g3', 'ü-grp', '𝄞'];
function subscriptionTopics(rng: Rng, self: string): string {
  const g = rng.pick(GROUPS);
  return rng.pick([
    `group/${g}`,
    `group/${g}/chat`,
    `group/${g}/+`,
    `group/${g}/#`,
    'group/+',
    'group/#',
    'group/+/chat',
    '#',
    '+/+',
    `+/${g}`,
    'presence/#',
    'presence/user/+',
    `presence/group/${g}`,
    'presence/conn/+/+',
    `presence/member/${g}/+`,
    `presence/query/${self}`,
    'presence/reply/+',
    `presence/reply/${self}`,
    'group/$g',
    'group/' + 'x'.repeat(128),
    'group/' + 'y'.repeat(129),
    'group/' + 'z'.repeat(rng.int(60_000)),
    'group/a\u0000b',
    'group//x',
    'group',
    '$SYS/#',
    'a/'.repeat(120) + 'b',
  ]);
}

function spoofPublish(rng: Rng, self: string): Record<string, unknown> {
  const g = rng.pick(GROUPS);
  const spoof = JSON.stringify({ action: 'online', id: 'victim', seq: 1e18, time: 1, groupId: g, groupOnlineCount: 99, mark: MARK });
  const [topic, payload] = rng.pick<[string, string]>([
    ['presence/user/victim', spoof],
    [`presence/user/${self}`, spoof],
    [`presence/group/${g}`, spoof],
    [`presence/member/${g}/victim`, '{"action":"join"}'],
    [`presence/member/${g}/${self}`, rng.pick(['{"action":"join"}', '', '{"action":"leave"}', '{"action":"nope"}', 'not json'])],
    ['presence/conn/victim/victim', JSON.stringify({ action: 'online', data: { mark: MARK } })],
    [`presence/conn/${self}/${self}`, rng.pick(['{"action":"online","data":{"n":1}}', '{"action":"offline"}', '[]', '{"action":"online","data":' + JSON.stringify({ big: 'x'.repeat(2000) }) + '}', '\u00ff\u00fe'])],
    ['presence/query/victim', '{"id":"1","method":"hereNow","params":{"userIds":["victim"]}}'],
    [`presence/query/${self}`, rng.pick(['{"id":"1","method":"hereNow","params":{"userIds":["victim"]}}', '{', '{"id":1}'])],
    [`presence/reply/${self}`, spoof],
    ['presence', spoof],
    ['$SYS/presence-bridge/new/clients', 'victim'],
    [`plain/${g}`, 'hello'],
    [`group/${g}`, spoof],
  ]);
  return { cmd: 'publish', topic, payload, qos: rng.int(3), retain: rng.chance(0.3), messageId: 1 + rng.int(65_000), dup: false };
}

/** What a watcher saw must all be genuine: the product's events, well-formed, never a spoof. */
function checkGenuine(t: Test, inbox: Inbox): void {
  const audit = new EventAudit([MARK, '"victim"']);
  for (const m of inbox.all) audit.feed(m.topic, m.payload, m.retain);
  t.same(audit.problems, [], `all ${inbox.all.length} messages the watcher received are genuine`);
}

t.test('protocol fuzz: the broker stays up, bounded and truthful', async (t) => {
  const { server, mqttUrl, logs } = await serve(t, { logLevel: 'warn', maxQueuedMessages: QUEUE_CAP });
  const { aedes, tracker } = server.broker;
  const port = server.mqttPort;
  const truth = trackTruth(aedes);
  const watch = await watcher(t, mqttUrl, ['presence/user/+', 'presence/group/+', 'presence/#', '#']);
  const live = aedes as unknown as { connectedClients: number };
  const persistence = (aedes as unknown as { persistence: StoredState }).persistence;
  const queues = server.broker.offlineQueues;
  // What aedes' persistence keeps between connections. (The tracker's users and memberships are not
  // compared: which of a dying raw session's SUBSCRIBEs the broker processes depends on timing, and
  // round 2's persistent sessions reconnect to restored sessions; they are checked against the truth.)
  const kept = async () => ({
    retained: await count(persistence.createRetainedStream('#')),
    wills: await count(persistence.streamWill({})),
    persistentSubscriptions: await persistence.countOffline(),
  });

  // warm up the paths once, so the baseline includes compiled code and pools
  await rawSession(port, [generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'warmup', keepalive: 0 })], 'disconnect');
  await waitFor(async () => (await tracker.stats()).connections === 1, 'warm-up to end');
  const baseline = await heapWhenIdle();

  // Two identical rounds (same seed, same ids): the first sets up what legitimately stays (persistent
  // sessions, retained events, memberships); the second must not add to the heap beyond noise.
  const heapAfterRound: number[] = [];
  const keptAfterRound: Awaited<ReturnType<typeof kept>>[] = [];
  const queuedAfterRound: { total: number; sessions: number; dropped: number }[] = [];
  for (const round of [1, 2]) {
    await t.test(`round ${round}`, async (t) => {
      const rng = new Rng(SEED);
    t.test('garbage bytes', async (t) => {
      const jobs = Array.from({ length: 60 * SCALE }, () => {
        const chunks = Array.from({ length: 1 + rng.int(4) }, () => {
          const bytes = rng.bytes(1 + rng.int(300));
          if (rng.chance(0.5)) bytes[0] = rng.pick([0x10, 0x30, 0x82, 0xa2, 0xc0, 0xe0]); // plausible first bytes
          return bytes;
        });
        const ending = rng.pick(ENDINGS);
        return () => rawSession(port, chunks, ending, { settleMs: 150 });
      });
      const results = await pool(16, jobs);
      t.equal(results.filter((r) => r.connack === 0).length, 0, 'garbage never got a connection accepted');
    });

    t.test('mutated CONNECTs with odd ids and wills', async (t) => {
      const jobs = Array.from({ length: 80 * SCALE }, (_, i) => {
        const clientId = rng.pick([`fb-${i}`, `fb-${i}-é`, '', '$fb', 'fb/' + i, 'fb+' + i, 'f'.repeat(129), 'fb-\u0000', `fb-${i}-𝄞`]);
        const willTopic = rng.pick(['presence/user/victim', `presence/conn/${clientId}/${clientId}`, 'presence/conn/victim/x', '$SYS/x', 'presence/group/g1', 'plain/will', 'presence', `group/g1`]);
        const willPayload = rng.pick([
          '{"action":"offline","data":{"n":2}}',
          '{"action":"offline","data":{"n":1}}',
          '{"action":"online"}',
          'not json',
          '{"action":"offline","data":' + JSON.stringify({ big: 'x'.repeat(2000) }) + '}',
          '{"action":"offline","data":[1]}',
        ]);
        const spec = {
          cmd: 'connect',
          protocolId: 'MQTT',
          protocolVersion: rng.pick([4, 4, 4, 3, 5]),
          clean: rng.chance(0.7),
          clientId,
          keepalive: rng.pick([0, 1, 60]),
          ...(rng.chance(0.3) ? { username: rng.pick(['', 'fb-user', '$x', 'u/x', `fb-${i}`]) } : {}),
          ...(rng.chance(0.6) ? { will: { topic: willTopic, payload: Buffer.from(willPayload), qos: rng.int(3), retain: rng.chance(0.5) } } : {}),
        };
        let packet: Buffer;
        try {
          packet = generate(spec);
        } catch {
          // mqtt-packet will not even encode some combinations (an empty id before 3.1.1): encode it as 3.1.1
          packet = generate({ ...spec, protocolVersion: 4, clean: true });
        }
        const bytes = rng.chance(0.6) ? mutate(rng, packet) : packet;
        const ending = rng.pick(ENDINGS);
        // A CONNECT the broker will act on gets its answer (CONNACK and PINGRESP, or the close) before the
        // session ends: cut off earlier, whether it became a user would depend on the machine's load, and
        // the two rounds below could not be compared. One the broker can only wait on ends after 150 ms.
        return () => rawSession(port, [bytes], ending, { settleMs: brokerMustAnswer([bytes]) ? WAIT_MS : 150 });
      });
      const results = await pool(16, jobs);
      t.ok(results.length === jobs.length, `${results.length} sessions, ${results.filter((r) => r.connack === 0).length} accepted`);
    });

    t.test('valid sessions sending mutated subscribe, unsubscribe and publish streams', async (t) => {
      const jobs = Array.from({ length: 60 * SCALE }, (_, i) => {
        const self = `fc-${i}`;
        const chunks: Buffer[] = [generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: rng.chance(0.8), clientId: self, keepalive: 0 })];
        for (let k = 0, n = 5 + rng.int(25); k < n; k++) {
          const messageId = 1 + rng.int(65_000);
          const kind = rng.int(10);
          let packet: Buffer;
          if (kind < 4) {
            const subscriptions = Array.from({ length: 1 + rng.int(4) }, () => ({ topic: subscriptionTopics(rng, self), qos: rng.int(3) as 0 | 1 | 2 }));
            packet = generate({ cmd: 'subscribe', messageId, subscriptions });
          } else if (kind < 6) {
            packet = generate({ cmd: 'unsubscribe', messageId, unsubscriptions: Array.from({ length: 1 + rng.int(3) }, () => subscriptionTopics(rng, self)) });
          } else if (kind < 9) {
            packet = generate(spoofPublish(rng, self));
          } else {
            packet = generate({ cmd: rng.pick(['pingreq', 'puback', 'pubrec', 'pubrel', 'pubcomp']), messageId });
          }
          chunks.push(rng.chance(0.12) ? mutate(rng, packet) : packet);
        }
        const ending = rng.pick(ENDINGS);
        return () => rawSession(port, chunks, ending, { afterConnack: true });
      });
      const results = await pool(12, jobs);
      t.equal(results.filter((r) => r.connack === 0).length, jobs.length, 'every valid CONNECT was accepted');
    });

    t.test('odd inputs get clear refusals', async (t) => {
      const connect = (extra: Record<string, unknown>) =>
        generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'odd', keepalive: 0, ...extra });
      const will = (topic: string, payload: string) => ({ will: { topic, payload: Buffer.from(payload), qos: 1, retain: true } });
      const cases: [string, Buffer, number][] = [
        ['will on another user\'s conn topic', connect(will('presence/conn/victim/odd', '{"action":"offline"}')), 5],
        ['will on a user event topic', connect(will('presence/user/victim', `{"mark":"${MARK}"}`)), 5],
        ['will on a group event topic', connect(will('presence/group/g1', `{"mark":"${MARK}"}`)), 5],
        ['will on $SYS', connect(will('$SYS/x', 'x')), 5],
        ['will on the bare prefix', connect(will('presence', 'x')), 5],
        ['will with invalid JSON', connect(will('presence/conn/odd/odd', '{"action":')), 5],
        ['will with an online action', connect(will('presence/conn/odd/odd', '{"action":"online"}')), 5],
        ['will with over-limit data', connect(will('presence/conn/odd/odd', JSON.stringify({ action: 'offline', data: { x: 'x'.repeat(1100) } }))), 5],
        ['will with array data', connect(will('presence/conn/odd/odd', '{"action":"offline","data":[]}')), 5],
        ['will on an ordinary topic', connect(will('plain/odd', 'bye')), 0],
        ['a 60000-character username', connect({ username: 'u'.repeat(60_000) }), 4],
        ['a 60000-character client id', connect({ clientId: 'c'.repeat(60_000) }), 2],
        ['a username with a slash', connect({ username: 'a/b' }), 4],
        ['a username with a wildcard', connect({ username: 'a+' }), 4],
        ['a username starting with $', connect({ username: '$a' }), 4],
        ['a client id with NUL', connect({ clientId: 'a\u0000b' }), 2],
        ['MQTT 5', generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: 'odd5', keepalive: 0 }), 1],
      ];
      for (const [label, bytes, code] of cases) {
        const result = await rawSession(port, [bytes], 'destroy');
        t.equal(result.connack, code, `${label}: CONNACK ${code}`);
      }
      // Ill-formed UTF-8 (lone surrogate, overlong '/', stray continuation) in client id, username and
      // topics: whatever the broker makes of it, ids stay well-formed and the shape of topics holds.
      for (const [i, bad] of [Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xc0, 0xaf, 0x41]), Buffer.from([0x80, 0xff, 0xfe])].entries()) {
        const id = `PH${i}`;
        const withBadId = patchBytes(connect({ clientId: `u8-${id}` }), id, bad);
        const r1 = await rawSession(port, [withBadId], 'destroy');
        t.ok(r1.connack === 0 || r1.connack === 2, `client id with ill-formed UTF-8 #${i}: accepted or refused (${r1.connack})`);
        const withBadUser = patchBytes(connect({ clientId: `u8u-${i}`, username: `user-${id}` }), id, bad);
        const r2 = await rawSession(port, [withBadUser], 'destroy');
        t.ok(r2.connack === 0 || r2.connack === 4, `username with ill-formed UTF-8 #${i}: accepted or refused (${r2.connack})`);
        const self = `u8s-${i}`;
        const sub = patchBytes(generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `group/g${id}x`, qos: 1 }] }), id, bad);
        const pub = patchBytes(generate({ cmd: 'publish', topic: `presence/user/${id}`, payload: `{"mark":"${MARK}"}`, qos: 1, messageId: 2, retain: true }), id, bad);
        const r3 = await rawSession(port, [connect({ clientId: self }), sub, pub], 'destroy');
        t.equal(r3.connack, 0, `session ${self} accepted`);
      }
    });

    t.test('subscribe/unsubscribe flood on group topics and wildcards', async (t) => {
      const chunks: Buffer[] = [generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'flood', keepalive: 0 })];
      for (let k = 0; k < 1500 * SCALE; k++) {
        // (a filter deeper than aedes' 100 levels ends the connection, and so does one with a NUL
        // [MQTT-1.5.3-2], test/utf8-strings.test.ts: the flood leaves those out)
        const topics = Array.from({ length: 1 + rng.int(3) }, () => subscriptionTopics(rng, 'flood').slice(0, 300)).filter(
          (f) => f.split('/').length <= 100 && !f.includes('\u0000'),
        );
        if (topics.length === 0) continue;
        chunks.push(
          rng.chance(0.55)
            ? generate({ cmd: 'subscribe', messageId: 1 + (k % 65_000), subscriptions: topics.map((topic) => ({ topic, qos: rng.int(2) as 0 | 1 })) })
            : generate({ cmd: 'unsubscribe', messageId: 1 + (k % 65_000), unsubscriptions: topics }),
        );
      }
      const result = await rawSession(port, [chunks[0]!, Buffer.concat(chunks.slice(1))], 'disconnect', { afterConnack: true, settleMs: 20_000 });
      t.equal(result.connack, 0);
      t.ok(result.packets.some((p) => p.cmd === 'pingresp'), 'the broker worked through the whole flood and answered the ping');
    });

      t.test('all fuzz connections end', async () => {
        await waitFor(() => live.connectedClients === 1 && server.broker.connectedClients === 1, 'only the watcher to remain connected');
        await tracker.settled();
        await server.broker.publisher.drained();
        keptAfterRound.push(await kept());
        queuedAfterRound.push({ total: queues.total, sessions: queues.sessions, dropped: queues.dropped });
        heapAfterRound.push(await heapWhenIdle(`the broker to go idle after round ${round}`));
      });
    });
  }

  t.test('afterwards: nothing leaked, state equals the truth, still serving', async (t) => {
    // every fuzz connection is gone
    await waitFor(() => live.connectedClients === 1 && server.broker.connectedClients === 1, 'only the watcher to remain connected');
    await tracker.settled();
    await server.broker.publisher.drained();
    const stats = await tracker.stats();
    t.equal(stats.connections, 1, 'the tracker holds only the watcher\'s connection');
    t.equal(stats.onlineUsers, 1, 'only the watcher is online');
    t.equal((await tracker.user('victim'))?.online ?? false, false, 'the spoofing target never came online');
    t.same((await tracker.user('victim'))?.groups ?? [], [], 'nor joined anything');

    const truthTotal = truth.total();
    for (const [user, groups] of truth.members) {
      t.same([...((await tracker.user(user))?.groups ?? [])].sort(), [...groups].sort(), `memberships of ${user}`);
    }
    t.equal(stats.memberships, truthTotal, 'no membership beyond those valid subscriptions made');
    t.ok(truthTotal > 0, `the fuzz made ${truthTotal} real memberships`);

    checkGenuine(t, watch);
    t.notOk(logs.some((l) => l.level === 'error'), 'no error was logged');

    // a fresh client still gets served end to end
    const fresh = await client(t, mqttUrl, { clientId: 'fresh', username: 'fresh-user' });
    await fresh.subscribeAsync('group/g1');
    await watch.find((m) => m.json.id === 'fresh-user' && m.json.action === 'online', 'fresh-user online');
    const join = await watch.find((m) => m.json.id === 'fresh-user' && m.json.action === 'join', 'fresh-user joins g1');
    t.equal(join.json.groupOnlineCount, 1, 'the count is the live truth: no fuzz member of g1 is online');
    fresh.publish('presence/user/victim', `{"mark":"${MARK}"}`, { retain: true });
    await fresh.endAsync();
    await watch.find((m) => m.json.id === 'fresh-user' && m.topic === 'presence/user/fresh-user' && m.json.action === 'offline', 'fresh-user offline');
    checkGenuine(t, watch);

    // The second round must leave nothing behind that the first did not: the same state, deterministically...
    const [kept1, kept2] = keptAfterRound as [Awaited<ReturnType<typeof kept>>, Awaited<ReturnType<typeof kept>>];
    t.same(kept2, kept1, 'round 2 left the same retained messages, wills and persistent subscriptions as round 1');
    t.ok(kept1.persistentSubscriptions.clientsCount > 0, `the fuzz left ${kept1.persistentSubscriptions.clientsCount} persistent sessions with subscriptions`);
    // ...and the queues of its persistent sessions, which grow with every event they match, stay capped.
    const [queued1, queued2] = queuedAfterRound as [{ total: number; sessions: number; dropped: number }, { total: number; sessions: number; dropped: number }];
    t.ok(queued1.dropped > 0, `round 1 filled a persistent session's queue to the cap (${queued1.total} queued for ${queued1.sessions} sessions, ${queued1.dropped} dropped)`);
    t.ok(queued2.dropped > queued1.dropped, `round 2 kept dropping the oldest (${queued2.dropped - queued1.dropped} more)`);
    t.ok(queued2.total <= queued2.sessions * QUEUE_CAP, `after round 2: ${queued2.total} queued for ${queued2.sessions} sessions, at most ${QUEUE_CAP} each`);

    const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
    const [first, second] = heapAfterRound as [number, number];
    t.ok(first - baseline < 48 * 1024 * 1024, `heap after GC grew by ${mib(first - baseline)} in round 1 (bound 48 MiB)`);
    t.ok(second - first < 8 * 1024 * 1024, `the same round again grew it by ${mib(second - first)} (bound 8 MiB)`);
  });
});

interface StoredState {
  createRetainedStream(pattern: string): AsyncIterable<unknown>;
  streamWill(brokers: object): AsyncIterable<unknown>;
  countOffline(): Promise<{ subsCount: number; clientsCount: number }>;
}

async function count(items: AsyncIterable<unknown>): Promise<number> {
  let n = 0;
  for await (const _ of items) n++;
  return n;
}

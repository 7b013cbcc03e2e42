/**
 * Issue 16, item 1, scaled down (the full-size input is test/slow/retained-replay-flood.test.ts): aedes
 * answers a SUBSCRIBE to `presence/user/+` by streaming every retained user record to the subscriber.
 * Watchers that leave (or stall, then drop) as soon as their SUBACK is in must not keep that stream
 * going: each packet sent to a closed client costs an Error whose stack pins the previous one, so the
 * heap grew with (records x gone watchers) until the process died. The replay stops with its client.
 * Watchers that never read are in the slow test (only big replays fill a loopback socket's buffers).
 */
import t from 'tap';
import { heapWhenIdle } from './fixtures/raw-sessions.js';
import { PeakSampler, leavingWatcher, seedUsers, type Leaving } from './fixtures/replay.js';
import { serve } from './fixtures/server.js';
import { client, Inbox } from './fixtures/mqtt.js';

const USERS = 2000;
const MiB = 1024 * 1024;

t.test('retained replays end with watchers that disconnect, drop or stall and drop at once', async (t) => {
  const { server, mqttUrl } = await serve(t, { logLevel: 'warn' });
  await seedUsers(server, USERS);
  const base = await heapWhenIdle();
  const heap = new PeakSampler(() => process.memoryUsage().heapUsed);
  const kinds: Leaving[] = ['disconnect', 'destroy', 'stall-then-destroy'];
  await Promise.all(Array.from({ length: 120 }, (_, i) => leavingWatcher(server.mqttPort, `gone${i}`, kinds[i % 3]!)));
  await heapWhenIdle('the replays to gone watchers to end');
  const grown = heap.stop() - base;
  // Measured 2026-12-01 on this input: without the fix ~300 MiB (2000 records x 120 watchers, each a
  // pinned Error and packet); with it 33-50 MiB, garbage included (heapUsed's peak depends on when V8
  // collects, more so on a loaded machine: a bound of 48 MiB failed once). The bound sits between.
  t.ok(grown < 150 * MiB, `heap peak grew ${(grown / MiB).toFixed(1)} MiB (bound 150 MiB; ~300 without the fix)`);
  t.equal(server.broker.retainedReplays.active, 0, 'no replay left running');
  t.ok(server.broker.retainedReplays.stopped > 0, 'replays were cut short, not run to the end');

  // The broker still answers: a new watcher gets a retained record at once.
  const c = await client(t, mqttUrl);
  const inbox = new Inbox(c);
  await c.subscribeAsync('presence/user/seed42', { qos: 1 });
  const got = await inbox.find((m) => m.topic === 'presence/user/seed42', 'the retained record of seed42');
  t.equal(got.json.action, 'offline', 'the retained record is intact');
  t.equal(got.retain, true, 'sent as retained');
});

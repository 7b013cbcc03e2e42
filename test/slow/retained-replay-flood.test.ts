/**
 * Issue 16, item 1, at full size: 30,000 users leave retained `presence/user/<id>` records, then 300
 * watchers SUBSCRIBE `presence/user/+` at QoS 1 and DISCONNECT as soon as the SUBACK arrives. Before
 * the fix the RSS went from 200 MB to 3.9 GB and the process died: aedes kept streaming the whole
 * retained set to each gone watcher. Goal: peak RSS below base + 256 MB.
 * Then the same records made big (900 bytes of user data each, 30 MB per replay), so that watchers
 * that never read really block the replay on a full socket: they hold little, and free it when cut.
 */
import t from 'tap';
import { heapWhenIdle, waitFor } from '../fixtures/raw-sessions.js';
import { PeakSampler, leavingWatcher, seedUsers } from '../fixtures/replay.js';
import { serve } from '../fixtures/server.js';

const MiB = 1024 * 1024;
t.setTimeout(20 * 60_000);

t.test('300 watchers leaving at SUBACK over 30,000 retained records: RSS stays within base + 256 MB', async (t) => {
  const { server } = await serve(t, { logLevel: 'warn' });
  await seedUsers(server, 30_000);
  await heapWhenIdle();
  const base = process.memoryUsage().rss;
  const rss = new PeakSampler(() => process.memoryUsage().rss, 20);
  await Promise.all(Array.from({ length: 300 }, (_, i) => leavingWatcher(server.mqttPort, `gone${i}`, 'disconnect')));
  await heapWhenIdle('the replays to gone watchers to end');
  const grown = rss.stop() - base;
  t.ok(grown < 256 * MiB, `RSS peak grew ${(grown / MiB).toFixed(0)} MB (goal: under 256 MB; before the fix: out of memory)`);
  t.equal(server.broker.retainedReplays.active, 0, 'no replay left running');
});

t.test('watchers that never read block their replay on a full socket, hold little, and free it when cut', async (t) => {
  const { server } = await serve(t, { logLevel: 'warn' });
  await seedUsers(server, 30_000, 'big', 900);
  const base = await heapWhenIdle();
  const sockets = await Promise.all(Array.from({ length: 20 }, (_, i) => leavingWatcher(server.mqttPort, `stall${i}`, 'stall')));
  // (each watcher's socket takes a few MB before it is full: that takes a while on a loaded machine)
  await waitFor(() => !process.getActiveResourcesInfo().includes('Immediate'), 'the replays to block on full sockets', 120_000);
  t.equal(server.broker.retainedReplays.active, 20, 'every replay is still waiting on its watcher');
  const held = (await heapWhenIdle()) - base;
  t.ok(held < 64 * MiB, `20 stalled watchers hold ${(held / MiB).toFixed(1)} MiB of heap (bound 64 MiB)`);
  const heap = new PeakSampler(() => process.memoryUsage().heapUsed, 20);
  for (const socket of sockets) socket.destroy();
  await heapWhenIdle('the replays to stalled watchers to end');
  const grown = heap.stop() - base;
  t.ok(grown < 128 * MiB, `heap peak after they were cut grew ${(grown / MiB).toFixed(1)} MiB (bound 128 MiB)`);
  t.equal(server.broker.retainedReplays.active, 0, 'every replay ended with its watcher');
});

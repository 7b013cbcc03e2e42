/**
 * A user moving from a device on node A to a device on node B, the second connected before the first
 * ends (contract: "no offline until the last device ends", across nodes). The client ends the device on
 * A the moment it holds CONNACK from B; A must then already find B's connection in Redis. It did not
 * when B committed a connection only at aedes' `clientReady`, after CONNACK and a Redis read of the
 * session's queue: A could commit the down first, and the user got an offline/online pair (seen in CI
 * in test/slow/cluster-presence.test.ts). Repeated, since each round is one race; for a clean and a
 * persistent session on B (aedes' connect path differs: the persistent one had no wait before CONNACK).
 */
import t from 'tap';
import { startNode } from '../fixtures/cluster.js';
import { client, watcher } from '../fixtures/mqtt.js';
import { startRedis } from '../fixtures/redis.js';

const ROUNDS = 25;

for (const clean of [true, false]) t.test(`a device on B (${clean ? 'clean' : 'persistent'} session) connected before the device on A ends: no offline, no second online, every round`, async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  const [a, b] = await Promise.all([startNode(t, redis, 'A', 2000), startNode(t, redis, 'B', 2000)]);
  const watch = await watcher(t, b.mqtt);
  const nodes = [a, b];
  for (let round = 0; round < ROUNDS; round++) {
    const user = `mover${round}${clean ? '' : 'p'}`;
    const first = await client(t, nodes[round % 2]!.mqtt, { clientId: `${user}-1`, username: user });
    t.match((await watch.next(`${user} online`)).json, { id: user, action: 'online' });
    const second = await client(t, nodes[(round + 1) % 2]!.mqtt, { clientId: `${user}-2`, username: user, clean });
    await new Promise<void>((resolve) => first.end(false, {}, () => resolve()));
    // A marker on the first device's node: everything about the user published before it has arrived.
    const marker = await client(t, nodes[round % 2]!.mqtt, { clientId: `marker-${user}`, username: `marker${user}` });
    t.match((await watch.next(`marker${user} online`)).json, { id: `marker${user}`, action: 'online' }, `round ${round}: nothing about ${user} while a device is left`);
    await new Promise<void>((resolve) => second.end(false, {}, () => resolve()));
    // A persistent session's end is an offline too (its session lives on, not its connection).
    t.match((await watch.next(`${user} offline`)).json, { id: user, action: 'offline', reason: 'disconnect' }, `round ${round}: offline once the last device ended`);
    await marker.endAsync();
    t.match((await watch.next(`marker${user} offline`)).json, { id: `marker${user}`, action: 'offline' });
  }
});

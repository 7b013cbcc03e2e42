/**
 * A user moving from a device on node A to a device on node B, the second connected before the first
 * ends (contract: "no offline until the last device ends", across nodes). The client ends the device on
 * A the moment it holds CONNACK from B; A must then already find B's connection in Redis. It did not
 * when B committed a connection only at aedes' `clientReady`, after CONNACK and a Redis read of the
 * session's queue: A could commit the down first, and the user got an offline/online pair (seen in CI
 * in test/slow/cluster-presence.test.ts). Repeated, since each round is one race.
 */
import t from 'tap';
import { startNode } from '../fixtures/cluster.js';
import { client, watcher } from '../fixtures/mqtt.js';
import { startRedis } from '../fixtures/redis.js';

const ROUNDS = 25;

t.test('a device on B connected before the device on A ends: no offline, no second online, every round', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  const [a, b] = await Promise.all([startNode(t, redis, 'A', 2000), startNode(t, redis, 'B', 2000)]);
  const watch = await watcher(t, b.mqtt);
  const nodes = [a, b];
  for (let round = 0; round < ROUNDS; round++) {
    const user = `mover${round}`;
    const first = await client(t, nodes[round % 2]!.mqtt, { clientId: `${user}-1`, username: user });
    t.match((await watch.next(`${user} online`)).json, { id: user, action: 'online' });
    const second = await client(t, nodes[(round + 1) % 2]!.mqtt, { clientId: `${user}-2`, username: user });
    await new Promise<void>((resolve) => first.end(false, {}, () => resolve()));
    // A marker on the first device's node: everything about the user published before it has arrived.
    const marker = await client(t, nodes[round % 2]!.mqtt, { clientId: `marker-${round}`, username: `marker${round}` });
    t.match((await watch.next(`marker${round} online`)).json, { id: `marker${round}`, action: 'online' }, `round ${round}: nothing about ${user} while a device is left`);
    await new Promise<void>((resolve) => second.end(false, {}, () => resolve()));
    t.match((await watch.next(`${user} offline`)).json, { id: user, action: 'offline', reason: 'disconnect' }, `round ${round}: offline once the last device ended`);
    await marker.endAsync();
    t.match((await watch.next(`marker${round} offline`)).json, { id: `marker${round}`, action: 'offline' });
  }
});

/**
 * `attach --redis`: two bridges on one Mosquitto, one active by a lease in Redis; kill -9 the active one
 * and the standby takes over (contract: "Scaling out and durability (Redis)").
 */
import t from 'tap';
import { device } from '../fixtures/announce.js';
import { mosquitto } from '../fixtures/mosquitto.js';
import { client, Inbox, subscribe } from '../fixtures/mqtt.js';
import { runCli } from '../fixtures/process.js';
import { startRedis } from '../fixtures/redis.js';

const NODE_TIMEOUT = 2000;

t.test('two attach bridges: one online per change; the standby takes over when the active one dies', async (t) => {
  const redis = await startRedis(t);
  const broker = redis && (await mosquitto(t));
  if (!redis || !broker) return;
  const { username, password } = broker.as('bridge');
  const bridge = (id: string) =>
    runCli(t, ['attach', '--broker', broker.url, '--username', username, '--password', password, '--bridge-id', id,
      '--http-port', '0', '--redis', redis.url, '--node-timeout', String(NODE_TIMEOUT), '--reconnect-ms', '100']);
  const first = bridge('bridge-1');
  await first.line((l) => l.msg === 'attach: lease acquired, this bridge is active', 'bridge-1 active');
  await first.line((l) => l.msg === 'listening', 'bridge-1 listening');
  const second = bridge('bridge-2');
  await second.line((l) => l.msg === 'attach: standby, another bridge holds the lease', 'bridge-2 standing by');

  const watch = new Inbox(await client(t, broker.url, { ...broker.as('watcher'), clientId: 'watcher-1' }));
  await subscribe(watch.client, ['presence/user/+', 'presence/group/+']);
  let aliceOnlines = 0;
  watch.client.on('message', (topic, payload) => {
    if (topic === 'presence/user/alice' && JSON.parse(payload.toString()).action === 'online') aliceOnlines++;
  });
  const alice = await device(t, broker.url, broker.as('alice'), 'alice-1');
  t.match((await watch.find((m) => m.json.id === 'alice', 'alice online')).json, { action: 'online' });
  await device(t, broker.url, broker.as('bob'), 'bob-1');
  t.match((await watch.next('bob online')).json, { id: 'bob', action: 'online' }, 'nothing between: one online for alice');
  t.equal(aliceOnlines, 1, 'one online per change, not one per bridge');

  const killedAt = Date.now();
  first.child.kill('SIGKILL');
  await second.line((l) => l.msg === 'attach: lease acquired, this bridge is active', 'bridge-2 takes over');
  const took = Date.now() - killedAt;
  t.comment(`standby active ${took} ms after the active bridge died (node timeout ${NODE_TIMEOUT} ms)`);
  t.ok(took <= NODE_TIMEOUT + 1000 + 1500, `takeover within the node timeout (+ margin): ${took} ms`);
  await second.line((l) => l.msg === 'listening', 'bridge-2 listening');

  alice.kill();
  t.match((await watch.find((m) => m.json.id === 'alice', 'alice offline, announced by bridge-2')).json, { action: 'offline' });
  t.equal(aliceOnlines, 1, 'the takeover repeated no online');
});

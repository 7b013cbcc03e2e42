/**
 * Client-id ownership across a cluster (src/store/redis-client-ids.ts): with authentication on, a client
 * id belongs to the user whose connection or persistent session holds it, on whichever node. Real
 * `serve --redis --users-file` processes on one real redis-server.
 */
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { writeUsersFile } from '../fixtures/auth.js';
import { startNode } from '../fixtures/cluster.js';
import { client, once, refusedCode, subscribe } from '../fixtures/mqtt.js';
import { startRedis } from '../fixtures/redis.js';

const USERS = { alice: { password: 'pw-alice' }, bob: { password: 'pw-bob' }, mallory: { password: 'pw-mallory' } };
const creds = (user: keyof typeof USERS) => ({ username: user, password: USERS[user].password });

/** Redis, nodes A and B with a users file, alice connected to A with client id `alice-dev`. */
async function aliceOnA(t: Test) {
  const redis = await startRedis(t);
  if (!redis) return undefined;
  const usersFile = await writeUsersFile(join(t.testdir(), 'users.json'), USERS);
  const auth = ['--users-file', usersFile];
  const [a, b] = await Promise.all([startNode(t, redis, 'A', 2000, auth), startNode(t, redis, 'B', 2000, auth)]);
  const alice = await client(t, a.mqtt, { clientId: 'alice-dev', ...creds('alice') });
  const state = { closed: false };
  alice.on('close', () => (state.closed = true));
  return { redis, a, b, alice, state };
}

t.test("another user's CONNECT with an owned client id is refused on every node; a dead node's holds are freed", async (t) => {
  const setup = await aliceOnA(t);
  if (!setup) return;
  const { redis, a, b, alice, state } = setup;

  t.equal(await refusedCode(b.mqtt, { clientId: 'alice-dev', ...creds('mallory') }), 5, "mallory on B with alice's client id (held on A): CONNACK 5");
  await subscribe(alice, 'chat/alice');
  const got = once(alice, 'message');
  const bob = await client(t, b.mqtt, { clientId: 'bob-1', ...creds('bob') });
  await bob.publishAsync('chat/alice', 'still here', { qos: 1 });
  t.equal(String((await got)[1]), 'still here', 'alice still receives');
  t.notOk(state.closed, 'alice was never disconnected');

  // A persistent session names its id after its connection ended.
  const session = await client(t, a.mqtt, { clientId: 'bob-session', clean: false, ...creds('bob') });
  await session.endAsync();
  t.equal(await refusedCode(b.mqtt, { clientId: 'bob-session', ...creds('mallory') }), 5, "bob's persistent session keeps his id on B too");

  // The owner moves her id to B herself (a cross-node takeover); then B dies: A frees what B held.
  const moved = await client(t, b.mqtt, { clientId: 'alice-dev', ...creds('alice') });
  moved.on('close', () => {});
  t.equal(await refusedCode(a.mqtt, { clientId: 'alice-dev', ...creds('mallory') }), 5, 'still hers after the move');
  await b.crash();
  const deadline = Date.now() + 10_000;
  let code = -1;
  while (Date.now() < deadline) {
    // Refused until A declares B down (a node timeout), then free: clean sessions keep no id.
    code = await refusedCode(a.mqtt, { clientId: 'alice-dev', ...creds('mallory') }).catch((error: Error) => (/accepted/.test(error.message) ? 0 : -1));
    if (code === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  t.equal(code, 0, "once B is declared down, alice's clean id is free");
});

t.test('a node declared down while alive gets its client-id holds back at its resync', async (t) => {
  const setup = await aliceOnA(t);
  if (!setup) return;
  const { redis, a, b, alice, state } = setup;
  const admin = redis.client();
  const until = async (check: () => Promise<boolean>, label: string) => {
    const deadline = Date.now() + 20_000;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  // A stops (SIGSTOP: its sockets stay open, it renews nothing); B declares it down and frees its holds.
  a.cli.child.kill('SIGSTOP');
  try {
    await until(async () => (await admin.hlen('presence:n:A:c')) === 0, "B reaping A's connections");
    await until(async () => (await admin.exists('presence:cid:alice-dev')) === 0, "alice's id freed by B");
  } finally {
    a.cli.child.kill('SIGCONT');
  }
  // A is back: its resync brings alice online again, and must put her hold on her id back.
  await until(async () => (await admin.hlen('presence:n:A:c')) === 1, "A's resync");
  await until(async () => (await admin.hget('presence:cid:alice-dev', 'user')) === 'alice', "alice's id held again");
  t.equal(await refusedCode(b.mqtt, { clientId: 'alice-dev', ...creds('mallory') }), 5, "mallory on B with alice's client id: CONNACK 5 again");
  t.notOk(state.closed, 'alice was never disconnected');
  await alice.endAsync();
  await until(async () => (await admin.exists('presence:cid:alice-dev')) === 0, 'her id free once she left (the hold was released)');
  t.pass('the restored hold was released with her connection');
});

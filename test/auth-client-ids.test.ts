import { join } from 'node:path';
import t from 'tap';
import { writeUsersFile } from './fixtures/auth.js';
import { client, Inbox, once, refusedCode, subscribe } from './fixtures/mqtt.js';
import { ManualClock } from './fixtures/clock.js';
import { waitFor as waitForCondition } from './fixtures/raw-sessions.js';
import { serve } from './fixtures/server.js';

const USERS = { alice: { password: 'pw-alice' }, bob: { password: 'pw-bob' }, mallory: { password: 'pw-mallory' } };
const creds = (user: keyof typeof USERS) => ({ username: user, password: USERS[user].password });

async function metric(httpUrl: string, name: string): Promise<string> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  return text.split('\n').filter((line) => line.startsWith(name)).join('\n');
}

t.test('with authentication, another user cannot take over a client id: refused, logged, counted; the holder is untouched', async (t) => {
  const usersFile = await writeUsersFile(join(t.testdir(), 'users.json'), USERS);
  const { mqttUrl, httpUrl, logs } = await serve(t, { usersFile });
  const alice = await client(t, mqttUrl, { clientId: 'alice-dev', ...creds('alice') });
  let aliceClosed = false;
  alice.on('close', () => (aliceClosed = true));

  t.equal(await refusedCode(mqttUrl, { clientId: 'alice-dev', ...creds('mallory') }), 5, "mallory's CONNECT with alice's client id: CONNACK 5");
  t.ok(
    logs.some((l) => l.msg === 'connection refused' && l.clientId === 'alice-dev' && /^client id belongs to another user/.test(String(l.reason))),
    'the refusal is logged with its reason',
  );
  t.match(await metric(httpUrl, 'presence_refused_connections_total'), /reason="client_id_belongs_to_another_user"} 1/, 'and counted');

  // alice's connection is alive end to end, not just flagged.
  await subscribe(alice, 'chat/alice');
  const got = once(alice, 'message');
  const bob = await client(t, mqttUrl, { clientId: 'bob-1', ...creds('bob') });
  await bob.publishAsync('chat/alice', 'still here', { qos: 1 });
  const [, payload] = (await got) as [string, Buffer];
  t.equal(payload.toString(), 'still here', 'alice still receives');
  t.notOk(aliceClosed, 'alice was never disconnected');

  // Her own second CONNECT with that id is a takeover, as before.
  const again = await client(t, mqttUrl, { clientId: 'alice-dev', ...creds('alice') });
  t.ok(again.connected, 'the owner takes over her own client id');
});

t.test('a persistent session is resumed only by its own user', async (t) => {
  const usersFile = await writeUsersFile(join(t.testdir(), 'users.json'), USERS);
  const { mqttUrl, logs } = await serve(t, { usersFile });
  const alice = await client(t, mqttUrl, { clientId: 'alice-sess', clean: false, ...creds('alice') });
  await subscribe(alice, 'inbox/alice', 1);
  await alice.endAsync();

  const bob = await client(t, mqttUrl, { clientId: 'bob-1', ...creds('bob') });
  await bob.publishAsync('inbox/alice', 'private for alice', { qos: 1 });

  t.equal(await refusedCode(mqttUrl, { clientId: 'alice-sess', clean: false, ...creds('mallory') }), 5, 'mallory resuming it: CONNACK 5');
  t.equal(await refusedCode(mqttUrl, { clientId: 'alice-sess', clean: true, ...creds('mallory') }), 5, 'nor may she wipe it with clean=true');
  t.ok(logs.some((l) => l.msg === 'connection refused' && /^client id belongs to another user/.test(String(l.reason))));

  // The session is intact: alice resumes it and gets what was queued for her.
  const back = await clientWithInbox(t, mqttUrl, { clientId: 'alice-sess', clean: false, ...creds('alice') });
  const msg = await back.find((m) => m.topic === 'inbox/alice', 'the queued message');
  t.equal(msg.payload.toString(), 'private for alice', 'the owner gets her queued message');

  // Once the owner ends the session (clean=true), the id is free for anyone again.
  await back.client.endAsync();
  const cleaner = await client(t, mqttUrl, { clientId: 'alice-sess', clean: true, ...creds('alice') });
  await cleaner.endAsync();
  await waitFor(async () => {
    try {
      const m = await client(t, mqttUrl, { clientId: 'alice-sess', ...creds('mallory') });
      await m.endAsync();
      return true;
    } catch {
      return false;
    }
  }, 'the ended session to free its client id');
  t.pass('after the session ended, the client id is anyone’s');
});

t.test('a persistent session that expires frees its client id (the record lives as long as the session)', async (t) => {
  const usersFile = await writeUsersFile(join(t.testdir(), 'users.json'), USERS);
  const clock = new ManualClock();
  const { server, mqttUrl } = await serve(t, { usersFile, persistentSessionExpiry: 3600 }, { scheduler: clock });
  const alice = await client(t, mqttUrl, { clientId: 'alice-sess', clean: false, ...creds('alice') });
  await alice.endAsync();
  await waitForCondition(() => server.broker.sessionExpiry.pending === 1, 'the expiry timer');
  t.equal(await refusedCode(mqttUrl, { clientId: 'alice-sess', ...creds('mallory') }), 5, 'while the session exists the id is alice’s');
  clock.advance(3600 * 1000);
  t.equal(server.broker.sessionExpiry.pending, 0, 'the session expired');
  const m = await client(t, mqttUrl, { clientId: 'alice-sess', ...creds('mallory') });
  t.ok(m.connected, 'after the session expired, the client id is anyone’s');
});

t.test('refused connections leave no ownership behind', async (t) => {
  const usersFile = await writeUsersFile(join(t.testdir(), 'users.json'), USERS);
  const { mqttUrl } = await serve(t, { usersFile, maxConnectionsPerUser: 1 });
  await client(t, mqttUrl, { clientId: 'm-1', ...creds('mallory') });
  // Refused (connection cap): must not claim `shared-id` for mallory.
  t.equal(await refusedCode(mqttUrl, { clientId: 'shared-id', clean: false, ...creds('mallory') }), 5);
  t.equal(await refusedCode(mqttUrl, { clientId: 'shared-id', ...creds('mallory'), password: 'wrong' }), 4);
  const a = await client(t, mqttUrl, { clientId: 'shared-id', ...creds('alice') });
  t.ok(a.connected, 'alice gets the client id no refused CONNECT claimed');
});

t.test('without authentication, the takeover rule stays: any CONNECT with a client id takes it over', async (t) => {
  const { mqttUrl } = await serve(t);
  const first = await client(t, mqttUrl, { clientId: 'dev-1', username: 'alice' });
  const closed = once(first, 'close', 'the first connection to be taken over');
  const second = await client(t, mqttUrl, { clientId: 'dev-1', username: 'mallory' });
  await closed;
  t.ok(second.connected, 'the newer connection holds the id');
});

async function clientWithInbox(t: Parameters<typeof client>[0], url: string, options: Parameters<typeof client>[2]): Promise<Inbox> {
  // The inbox listens before CONNACK, so messages the broker sends right after it are not missed.
  const { connect } = await import('mqtt');
  const c = connect(url, { reconnectPeriod: 0, protocolVersion: 4, ...options });
  t.teardown(() => new Promise<void>((resolve) => c.end(true, {}, () => resolve())));
  const inbox = new Inbox(c);
  await once(c, 'connect', 'CONNACK');
  return inbox;
}

async function waitFor(check: () => Promise<boolean>, label: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`timed out waiting for ${label}`);
}

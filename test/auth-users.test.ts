import { spawn } from 'node:child_process';
import { CLI } from './fixtures/process.js';
import { once as onceEvent } from 'node:events';
import { createInterface } from 'node:readline';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { authedWatcher, writeUsersFile } from './fixtures/auth.js';
import { client, once, refusedCode, subscribe, WAIT_MS } from './fixtures/mqtt.js';
import { serve } from './fixtures/server.js';

const will = (userId: string, clientId: string, data: Record<string, unknown>) => ({
  topic: `presence/conn/${userId}/${clientId}`,
  payload: Buffer.from(JSON.stringify({ action: 'offline', data })),
  qos: 1 as const,
  retain: true,
});

t.test('users file: the right password connects, anything else is refused with the right CONNACK', async (t) => {
  const dir = t.testdir();
  const usersFile = await writeUsersFile(join(dir, 'users.json'), {
    alice: { password: 'alice-secret', data: { name: 'Alice', avatar: '/a.png' } },
    watcher: { password: 'watch-secret' },
    tokenOnly: { data: { name: 'No password' } },
  });
  const { mqttUrl, logs } = await serve(t, { usersFile });
  const watch = await authedWatcher(t, mqttUrl, 'watcher', { password: 'watch-secret' }, ['presence/user/alice']);

  t.equal(await refusedCode(mqttUrl, { clientId: 'a1', username: 'alice', password: 'wrong' }), 4, 'wrong password: 4');
  t.equal(await refusedCode(mqttUrl, { clientId: 'a2', username: 'mallory', password: 'alice-secret' }), 4, 'unknown user: 4');
  t.equal(await refusedCode(mqttUrl, { clientId: 'a3', username: 'alice' }), 4, 'no password: 4');
  t.equal(await refusedCode(mqttUrl, { clientId: 'a4', username: 'tokenOnly', password: 'x' }), 4, 'user without a password hash: 4');
  t.equal(await refusedCode(mqttUrl, { clientId: 'alice' }), 5, 'anonymous (no credentials) when auth is configured: 5');
  t.ok(logs.some((l) => l.msg === 'connection refused' && l.reason === 'bad user name or password' && l.returnCode === 4), 'refusals are logged with a reason');
  t.ok(logs.some((l) => l.msg === 'authentication required: anonymous clients are refused'), 'the server says it requires authentication');
  t.notOk(logs.some((l) => /ANONYMOUS/.test(l.msg)), 'and does not claim to be anonymous');

  // The client declares other data in its will; the users file's trusted data wins.
  await client(t, mqttUrl, {
    clientId: 'alice-phone',
    username: 'alice',
    password: 'alice-secret',
    will: will('alice', 'alice-phone', { name: 'Mallory', avatar: '/evil.png' }),
  });
  const online = await watch.find((m) => m.json.action === 'online', 'alice online');
  t.equal(online.topic, 'presence/user/alice');
  t.same(online.json.data, { name: 'Alice', avatar: '/a.png' }, 'trusted data replaces declared data');
});

t.test('reload re-reads the users file and keeps every connection up', async (t) => {
  const dir = t.testdir();
  const path = await writeUsersFile(join(dir, 'users.json'), { alice: { password: 'pw-alice', data: { name: 'Alice' } } });
  const { server, mqttUrl, logs } = await serve(t, { usersFile: path });
  const alice = await client(t, mqttUrl, { clientId: 'alice-1', username: 'alice', password: 'pw-alice' });
  t.equal(await refusedCode(mqttUrl, { clientId: 'bob-1', username: 'bob', password: 'pw-bob' }), 4, 'bob is not known yet');

  await writeUsersFile(path, { alice: { password: 'pw-alice', data: { name: 'Alice' } }, bob: { password: 'pw-bob' } });
  await server.reload();
  t.ok(logs.some((l) => l.msg === 'authentication reloaded' && l.users === 2), 'reload is logged with the user count');

  const bob = await client(t, mqttUrl, { clientId: 'bob-1', username: 'bob', password: 'pw-bob' });
  t.ok(bob.connected, 'bob connects after the reload');
  t.ok(alice.connected, 'alice is still connected');
  // Prove alice's connection is alive end to end, not just flagged: a round trip through the broker.
  await subscribe(alice, 'chat/alice');
  const got = once(alice, 'message');
  await bob.publishAsync('chat/alice', 'hi', { qos: 1 });
  const [topic, payload] = (await got) as [string, Buffer];
  t.equal(`${topic} ${payload.toString()}`, 'chat/alice hi');

  // A broken file changes nothing: the previous list stays and the failure is reported.
  writeFileSync(path, '{"users": {"eve": {"password": "plaintext"}}}');
  await t.rejects(server.reload(), /not a scrypt hash/);
  t.ok(logs.some((l) => l.msg === 'authentication reload failed; keeping the previous list'), 'a failed reload is logged');
  const again = await client(t, mqttUrl, { clientId: 'bob-2', username: 'bob', password: 'pw-bob' });
  t.ok(again.connected, 'the previous list is still in force');
  t.match(readFileSync(path, 'utf8'), /plaintext/);
});

t.test('a users file the server cannot use stops it from starting', async (t) => {
  const dir = t.testdir({ 'bad.json': '{"users": {"alice": {"password": "secret"}}}', 'notjson.json': '{' });
  await t.rejects(serve(t, { usersFile: join(dir, 'bad.json') }), /not a scrypt hash/);
  await t.rejects(serve(t, { usersFile: join(dir, 'notjson.json') }), /not valid JSON/);
  await t.rejects(serve(t, { usersFile: join(dir, 'missing.json') }), /cannot read users file/);
});

t.test('SIGHUP re-reads the users file of a running server without dropping connections', async (t) => {
  const dir = t.testdir();
  const path = await writeUsersFile(join(dir, 'users.json'), { alice: { password: 'pw-alice' } });
  // The built CLI (npm test builds first), as a user runs it: through the TypeScript loader the start-up
  // alone took 13-35 s on a loaded machine, past the wait for its first log line.
  const child = spawn(process.execPath, [CLI, 'serve', '--mqtt-port', '0', '--http-port', '0', '--users-file', path], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = onceEvent(child, 'exit');
  t.teardown(async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  });
  const lines = createInterface({ input: child.stdout! });
  const logs: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  lines.on('line', (line) => {
    logs.push(JSON.parse(line) as Record<string, unknown>);
    for (const wake of waiters.splice(0)) wake();
  });
  const logged = (msg: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for log '${msg}'`)), WAIT_MS);
      const check = () => {
        const hit = logs.find((l) => l.msg === msg);
        if (hit) {
          clearTimeout(timer);
          resolve(hit);
        } else waiters.push(check);
      };
      check();
    });

  const listening = await logged('listening');
  const mqttUrl = `mqtt://127.0.0.1:${listening.mqttPort as number}`;
  const alice = await client(t, mqttUrl, { clientId: 'alice-1', username: 'alice', password: 'pw-alice' });
  t.equal(await refusedCode(mqttUrl, { clientId: 'bob-1', username: 'bob', password: 'pw-bob' }), 4, 'bob is unknown before SIGHUP');

  await writeUsersFile(path, { alice: { password: 'pw-alice' }, bob: { password: 'pw-bob' } });
  child.kill('SIGHUP');
  const reloaded = await logged('authentication reloaded');
  t.equal(reloaded.users, 2, 'the new file was read');
  const bob = await client(t, mqttUrl, { clientId: 'bob-1', username: 'bob', password: 'pw-bob' });
  t.ok(bob.connected, 'bob connects after SIGHUP');
  await subscribe(alice, 'ping/alice');
  const got = once(alice, 'message');
  await bob.publishAsync('ping/alice', 'still there?', { qos: 1 });
  const [, payload] = (await got) as [string, Buffer];
  t.equal(payload.toString(), 'still there?', "alice's connection survived the SIGHUP");
  t.equal(child.exitCode, null, 'the server is still running');
});

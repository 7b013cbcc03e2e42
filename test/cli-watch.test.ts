import { spawn } from 'node:child_process';
import { CLI } from './fixtures/process.js';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { ERROR_CODE } from '../src/client/index.js';
import { startWatch } from '../src/cli/watch.js';
import { ConfigError } from '../src/config.js';
import { presenceClient } from './fixtures/client.js';
import { forEachMode, type Mode } from './fixtures/modes.js';
import { WAIT_MS } from './fixtures/mqtt.js';
import { serve } from './fixtures/server.js';

/** The watch's own user and, in attach mode, its Mosquitto password. */
const asOps = (mode: Mode) => {
  const { password } = mode.credentials('ops');
  return ['--id', 'ops', ...(password ? ['--password', password] : [])];
};

/** Lines written to a sink, with a wait for the first n of them. */
function lines() {
  const all: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  return {
    all,
    sink: (line: string) => {
      all.push(JSON.parse(line) as Record<string, unknown>);
      for (const wake of waiters.splice(0)) wake();
    },
    count(n: number, label: string): Promise<Record<string, unknown>[]> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${label}; got ${JSON.stringify(all)}`)), WAIT_MS);
        const check = () => {
          if (all.length < n) return void waiters.push(check);
          clearTimeout(timer);
          resolve(all.slice(0, n));
        };
        check();
      });
    },
  };
}

forEachMode(t, 'watch prints the current state, then user and group events, as JSON lines', async (t, mode) => {
  await mode.client(t, 'alice', { data: { name: 'Alice' } });
  const out = lines();
  const err = lines();
  const watch = await startWatch(['--url', mode.wsUrl, '--users', 'alice,bob', '--groups', 'lobby', ...asOps(mode)], out.sink, err.sink);
  t.teardown(() => watch.stop());
  t.match((await out.count(1, 'alice snapshot'))[0], { type: 'user', snapshot: true, action: 'online', id: 'alice', data: { name: 'Alice' } });

  const bob = await mode.client(t, 'bob');
  await bob.subscribeGroup({ groupIds: ['lobby'] });
  await bob.updatePresence({ data: { status: 'busy' } });
  await bob.disconnect();
  const printed = await out.count(7, 'bob online, join, update x2, offline x2');
  t.same(
    printed.slice(1).map((l) => `${String(l.type)} ${String(l.action)} ${String(l.id)} ${String(l.groupOnlineCount ?? '-')}`),
    ['user online bob -', 'group join bob 1', 'user update bob -', 'group update bob 1', 'user offline bob -', 'group offline bob 0'],
  );
  t.match(printed[3], { type: 'user', action: 'update', data: { status: 'busy' } }, 'updates are printed with their data');
  t.notOk('snapshot' in printed[1]!, 'live events carry no snapshot flag');
  t.match(err.all, [{ level: 'info', msg: 'watching', users: ['alice', 'bob'], groups: ['lobby'] }]);
}, { users: ['ops'] });

forEachMode(t, 'watch --changes-only skips the snapshot; bad arguments and unreachable servers are clear errors', async (t, mode) => {
  const { mqttUrl } = mode;
  await mode.client(t, 'alice');
  const out = lines();
  const watch = await startWatch(['--url', mqttUrl, '--users', 'alice,bob', '--changes-only', ...asOps(mode)], out.sink, () => {});
  t.teardown(() => watch.stop());
  // a round trip after the subscription: bob's online is the first line, alice's state never printed
  await mode.client(t, 'bob');
  t.match((await out.count(1, 'bob online'))[0], { type: 'user', action: 'online', id: 'bob' });
  t.equal(out.all.length, 1);

  const noUrl = await startWatch(['--users', 'a'], () => {}, () => {}).catch((e: unknown) => e);
  t.type(noUrl, ConfigError);
  t.match(noUrl, { message: /watch needs --url/ });
  await t.rejects(startWatch(['--url', mqttUrl], () => {}, () => {}), { message: /--users a,b and\/or --groups/ });
  await t.rejects(startWatch(['--url', mqttUrl, '--users', 'a', '--bogus'], () => {}, () => {}), { code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION' });
  await t.rejects(startWatch(['--url', mqttUrl, '--users', 'a/b', ...asOps(mode)], () => {}, () => {}), { code: ERROR_CODE.INVALID_ARGUMENT });
  await t.rejects(startWatch(['--url', 'mqtt://127.0.0.1:1', '--users', 'a'], () => {}, () => {}), { code: ERROR_CODE.UNREACHABLE });
}, { users: ['ops'] });

t.test('the watch command as a process: lines on stdout, a clean exit on SIGINT', async (t) => {
  const { mqttUrl } = await serve(t);
  await presenceClient(t, mqttUrl, 'alice');
  const child = spawn(process.execPath, [CLI, 'watch', '--url', mqttUrl, '--users', 'alice'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const first = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no line from the watch process')), WAIT_MS * 2);
    createInterface({ input: child.stdout }).once('line', (line) => {
      clearTimeout(timer);
      resolve(line);
    });
  });
  t.match(JSON.parse(first), { type: 'user', snapshot: true, action: 'online', id: 'alice' });
  child.kill('SIGINT');
  t.equal(await exited, 0, 'exits 0 after disconnecting');

  const refused = spawn(process.execPath, [CLI, 'watch', '--url', 'mqtt://127.0.0.1:1', '--users', 'a'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  refused.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  t.equal(await new Promise((resolve) => refused.once('exit', resolve)), 1);
  t.match(JSON.parse(stderr.trim().split('\n').pop()!), { level: 'error', code: ERROR_CODE.UNREACHABLE, msg: /cannot reach the server.*; is the server running there\? check --url$/ });
  t.equal(stderr.trim().split('\n').length, 1, 'one line');
});

t.test('watch reports the ids it may not watch once and keeps watching the rest', async (t) => {

  const { writeUsersFile } = await import('./fixtures/auth.js');
  const usersFile = await writeUsersFile(`${t.testdir()}/users.json`, {
    alice: { password: 'pw', groups: ['g1'] },
    bob: { password: 'pw', groups: ['g1'] },
    carol: { password: 'pw', groups: ['g2'] },
  });
  const { mqttUrl } = await serve(t, { usersFile, authorization: 'shared-group' });
  const out = lines();
  const err = lines();
  const watch = await startWatch(['--url', mqttUrl, '--id', 'alice', '--password', 'pw', '--users', 'carol,bob,zed', '--changes-only'], out.sink, err.sink);
  t.teardown(() => watch.stop());
  const [refused, watching] = await err.count(2, 'refusal and watching');
  t.match(refused, { level: 'warn', code: ERROR_CODE.NOT_AUTHORIZED, users: ['carol', 'zed'], groups: [] });
  t.match(watching, { level: 'info', msg: 'watching', users: ['bob'] });
  await presenceClient(t, mqttUrl, 'bob', { password: 'pw' });
  t.match((await out.count(1, 'bob online'))[0], { type: 'user', action: 'online', id: 'bob' });
  t.equal(err.all.length, 2, 'the refusal was reported once');

  await t.rejects(
    startWatch(['--url', mqttUrl, '--id', 'alice', '--password', 'pw', '--users', 'carol'], () => {}, () => {}),
    { code: ERROR_CODE.NOT_AUTHORIZED, message: /refused every subscription/ },
    'nothing left to watch is still an error',
  );
});

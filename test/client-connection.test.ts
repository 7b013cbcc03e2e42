import { join } from 'node:path';
import t from 'tap';
import { ERROR_CODE } from '../src/client/index.js';
import { writeUsersFile } from './fixtures/auth.js';
import { presenceClient, Recorder } from './fixtures/client.js';
import { link } from './fixtures/link.js';
import { watcher } from './fixtures/mqtt.js';
import { serve } from './fixtures/server.js';

/**
 * The client's connection lifecycle (src/client/connection.ts) on a reconnect the server refuses:
 * a refusal retrying cannot fix (the credentials, CONNACK 2/4/5) ends the client; "server
 * unavailable" (CONNACK 3) is reported and retried (docs/client.md "Reconnects"). The broker is
 * real; a TCP relay in front of it cuts the link.
 */
const status = (r: { event: string; payload: Record<string, unknown> }) => (r.event === 'CONNECTION' ? String(r.payload.status) : `ERROR ${String(r.payload.code)}`);

t.test('a reconnect refused for the credentials ends the client: ERROR 401, disconnected, no more attempts', async (t) => {
  const path = await writeUsersFile(join(t.testdir(), 'users.json'), { alice: { password: 'old-secret' } });
  const { server, mqttUrl, logs } = await serve(t, { usersFile: path });
  const line = await link(t, mqttUrl);
  const alice = await presenceClient(t, line.url, 'alice', { clientId: 'alice-1', password: 'old-secret', reconnectPeriodMs: 50 });
  const seen = new Recorder(alice, ['CONNECTION', 'ERROR']);

  // The password changes while alice is connected; the reload keeps her connection.
  await writeUsersFile(path, { alice: { password: 'new-secret' } });
  await server.reload();
  line.cut();
  line.restore();

  t.equal(status(await seen.next('reconnecting')), 'reconnecting');
  const error = await seen.next('the refusal');
  t.match(error, { event: 'ERROR', payload: { code: ERROR_CODE.NOT_AUTHORIZED, content: /CONNACK 4/ } });
  t.equal(status(await seen.next('disconnected')), 'disconnected');
  t.equal(alice.status, 'disconnected');
  await t.rejects(alice.whereNow({ userId: 'alice' }), { code: ERROR_CODE.NOT_CONNECTED, content: /disconnected/ });

  // Stopped for good: 40 reconnect periods later the broker saw no other attempt, and nothing more was reported.
  await new Promise((resolve) => setTimeout(resolve, 2000));
  t.equal(logs.filter((l) => l.msg === 'connection refused' && l.clientId === 'alice-1').length, 1, 'one refused CONNECT, no retrying');
  t.same(seen.unread(), []);
});

t.test('a reconnect refused as server unavailable (CONNACK 3) is reported and retried', async (t) => {
  const { mqttUrl } = await serve(t);
  const watch = await watcher(t, mqttUrl);
  const line = await link(t, mqttUrl);
  const alice = await presenceClient(t, line.url, 'alice', { clientId: 'alice-1', reconnectPeriodMs: 50 });
  const seen = new Recorder(alice, ['CONNECTION', 'ERROR']);
  await alice.subscribeGroup({ groupIds: ['lobby'] });
  await watch.find((m) => m.topic === 'presence/group/lobby' && m.json.action === 'join', 'alice joins');

  line.refuseNext(3);
  line.cut();
  line.restore();

  t.equal(status(await seen.next('reconnecting')), 'reconnecting');
  t.match(await seen.next('the refusal'), { event: 'ERROR', payload: { code: ERROR_CODE.UNREACHABLE, content: /CONNACK 3/ } });
  t.equal(status(await seen.next('connected again')), 'connected');
  t.equal(alice.status, 'connected');
  t.match(
    (await watch.find((m) => m.topic === 'presence/group/lobby' && m.json.action === 'online', 'alice back in lobby')).json,
    { id: 'alice', groupOnlineCount: 1 },
    'the next attempt got through: birth and membership restored',
  );
  t.same(await alice.whereNow({ userId: 'alice' }), { userId: 'alice', groups: ['lobby'] });
  t.same(seen.unread(), []);
});

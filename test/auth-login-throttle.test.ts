import { writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { MqttClient, type IClientOptions } from 'mqtt';
import t from 'tap';
import { hashPassword } from '../src/auth/password.js';
import { TEST_COST } from './fixtures/auth.js';
import { client, refusedCode, WAIT_MS } from './fixtures/mqtt.js';
import { serve, type LogRecord } from './fixtures/server.js';

/** A clock the test moves; the server's login back-off reads it. */
function testClock(start = 1_700_000_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

const refusals = (logs: LogRecord[], pattern: RegExp) => logs.filter((l) => l.msg === 'connection refused' && pattern.test(String(l.reason))).length;

async function metrics(httpUrl: string): Promise<string> {
  return (await fetch(`${httpUrl}/metrics`)).text();
}

t.test('a flood of wrong passwords for one account spends a few checks, then is refused without one; other accounts log in as fast as before', async (t) => {
  // Real-cost hashes (scrypt N=2^15, ~100 ms here): what makes a flood expensive without the back-off.
  const usersFile = join(t.testdir(), 'users.json');
  writeFileSync(usersFile, JSON.stringify({ users: { alice: { password: await hashPassword('pw-alice') }, bob: { password: await hashPassword('pw-bob') } } }));
  const clock = testClock();
  const { mqttUrl, httpUrl, logs } = await serve(t, { usersFile, loginFailuresPerAccount: 5, loginFailuresPerIp: 20 }, { now: clock.now });

  const timedLogin = async (clientId: string) => {
    const started = performance.now();
    const c = await client(t, mqttUrl, { clientId, username: 'bob', password: 'pw-bob' });
    const ms = performance.now() - started;
    await c.endAsync();
    return ms;
  };
  const baseline = Math.max(await timedLogin('bob-base-1'), await timedLogin('bob-base-2'));

  const FLOOD = 200;
  const flood = Array.from({ length: FLOOD }, (_, i) => refusedCode(mqttUrl, { clientId: `guess-${i}`, username: 'alice', password: `guess-${i}` }));
  const during = await timedLogin('bob-during');
  const codes = await Promise.all(flood);

  // Counted from /metrics: every refusal is counted there (the log lines are rate limited).
  const counted = await metrics(httpUrl);
  t.match(counted, /presence_refused_connections_total\{reason="bad_user_name_or_password"\} 5\n/, 'exactly the 5 free failures cost a password check');
  t.match(counted, new RegExp(`presence_refused_connections_total\\{reason="too_many_failed_logins_for_this_account"\\} ${FLOOD - 5}\\n`), 'the rest were refused before any check, counted in /metrics');
  t.ok(refusals(logs, /^too many failed logins for this account: retry in \d+ s$/) > 0, 'and logged');
  t.same([...new Set(codes)].sort(), [3, 4], 'wrong password: 4; in back-off: 3 (server unavailable, retry later)');
  t.ok(during < baseline * 4 + 3000, `bob's login during the flood (${during.toFixed(0)} ms) stays near the baseline (${baseline.toFixed(0)} ms)`);

  // While in back-off even the right password is refused, without a check; after it, it works and clears the count.
  t.equal(await refusedCode(mqttUrl, { clientId: 'alice-1', username: 'alice', password: 'pw-alice' }), 3, 'locked: the right password waits too');
  const retry = logs.filter((l) => /^too many failed logins/.test(String(l.reason))).at(-1);
  t.match(String(retry?.reason), /retry in 1 s$/, 'the refusal says when to retry');
  clock.advance(1000);
  const alice = await client(t, mqttUrl, { clientId: 'alice-1', username: 'alice', password: 'pw-alice' });
  t.ok(alice.connected, 'after the back-off the owner logs in');
  t.match(await metrics(httpUrl), /presence_refused_connections_total\{reason="bad_user_name_or_password"\} 5\n/, 'a check that succeeded');
});

t.test('the back-off doubles with each further failure, up to its maximum', async (t) => {
  const usersFile = await usersFileWith(t.testdir(), ['alice']);
  const clock = testClock();
  const { mqttUrl, logs } = await serve(t, { usersFile, loginFailuresPerAccount: 2, loginBackoffMs: 1000, loginBackoffMaxMs: 4000 }, { now: clock.now });
  const wrong = () => refusedCode(mqttUrl, { clientId: 'a', username: 'alice', password: 'wrong' });
  const waits: string[] = [];
  t.same([await wrong(), await wrong()], [4, 4], 'two free failures');
  for (const step of [1000, 2000, 4000, 4000]) {
    t.equal(await wrong(), 3, 'in back-off');
    waits.push(String(logs.at(-1)!.reason).replace(/.*retry in /, ''));
    clock.advance(step);
    t.equal(await wrong(), 4, 'one more try after the back-off, checked and failed');
  }
  t.same(waits, ['1 s', '2 s', '4 s', '4 s'], 'back-off 1, 2, 4 s, then capped at 4 s');
});

t.test('failures from one address across accounts put the address in back-off; another address is unaffected', async (t) => {
  const usersFile = await usersFileWith(t.testdir(), ['u1', 'u2', 'u3', 'bob']);
  const clock = testClock();
  const { server, logs } = await serve(t, { usersFile, loginFailuresPerIp: 3, loginFailuresPerAccount: 10 }, { now: clock.now });
  const from = (localAddress: string, options: IClientOptions) => connectFrom(server.mqttPort, localAddress, options);
  for (const user of ['u1', 'u2', 'u3']) t.equal(await from('127.0.0.1', { clientId: user, username: user, password: 'wrong' }), 4);
  t.equal(await from('127.0.0.1', { clientId: 'bob-1', username: 'bob', password: 'pw-bob' }), 3, 'the guessing address is in back-off, for every account');
  t.equal(refusals(logs, /^too many failed logins for this address/), 1);
  t.equal(await from('127.0.0.2', { clientId: 'bob-2', username: 'bob', password: 'pw-bob' }), 0, 'bob from another address logs in');
});

async function usersFileWith(dir: string, users: string[]): Promise<string> {
  const entries: Record<string, { password: string }> = {};
  for (const user of users) entries[user] = { password: await hashPassword(`pw-${user}`, TEST_COST) };
  const path = join(dir, 'users.json');
  writeFileSync(path, JSON.stringify({ users: entries }));
  return path;
}

/** A real mqtt.js client whose socket leaves from `localAddress` (any 127.x address is loopback on Linux); resolves to the CONNACK code. */
function connectFrom(port: number, localAddress: string, options: IClientOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    const c = new MqttClient(() => createConnection({ port, host: '127.0.0.1', localAddress }), { reconnectPeriod: 0, protocolVersion: 4, ...options });
    const timer = setTimeout(() => reject(new Error('no CONNACK')), WAIT_MS);
    const finish = (code: number) => {
      clearTimeout(timer);
      c.end(true);
      resolve(code);
    };
    c.once('connect', () => finish(0));
    c.once('error', (error: Error & { code?: number }) => (typeof error.code === 'number' ? finish(error.code) : reject(error)));
  });
}

t.test('the throttle holds a bounded number of keys, and forgets quiet ones', async (t) => {
  const { LoginThrottle } = await import('../src/auth/login-throttle.js');
  const clock = testClock();
  const throttle = new LoginThrottle({ failuresPerAccount: 3, failuresPerAddress: 0, backoffMs: 1000, backoffMaxMs: 4000, maxKeys: 100, now: clock.now });
  for (let i = 0; i < 10_000; i++) {
    const admission = throttle.begin(`user-${i}`, '10.0.0.1');
    if (!admission.ok) throw new Error('a first try must be admitted');
    admission.attempt.failed();
  }
  t.equal(throttle.size, 100, 'at most maxKeys accounts are remembered, whatever the number of names tried');
  clock.advance(8000);
  const admission = throttle.begin('user-9999', '10.0.0.1');
  t.ok(admission.ok, 'admitted');
  if (admission.ok) admission.attempt.released();
  t.equal(throttle.size, 99, 'a key quiet for twice the longest back-off is forgotten when next seen');
});

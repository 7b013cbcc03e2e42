import t from 'tap';
import { device } from './fixtures/announce.js';
import { attach } from './fixtures/bridge.js';
import { ManualClock } from './fixtures/clock.js';
import { forEachMode } from './fixtures/modes.js';
import { mosquitto } from './fixtures/mosquitto.js';
import { client, Inbox, subscribe, type Received } from './fixtures/mqtt.js';
import { presenceClient } from './fixtures/client.js';
import { waitFor } from './fixtures/raw-sessions.js';

const describe = (m: Received) => `${m.json.id} ${m.json.action}`;

// Mosquitto publishes the old connection's will when the same client id connects again, before the
// new connection's birth. With default settings (no --grace) that must not be an offline/online pair.
forEachMode(t, 'a takeover (same client id, first socket still open) is no offline/online pair', async (t, mode) => {
  const events = await mode.watcher(t);
  const creds = (user: string) => mode.credentials(user) as { username: string; password: string };
  const first = await device(t, mode.mqttUrl, creds('alice'), 'alice-1');
  t.equal(describe(await events.find((m) => m.json.id === 'alice', 'alice online')), 'alice online');
  const second = await device(t, mode.mqttUrl, creds('alice'), 'alice-1');
  t.not(second.epoch, first.epoch);
  // bob's birth is read after alice's second one: everything about alice's takeover came before it
  await device(t, mode.mqttUrl, creds('bob'), 'bob-1');
  const between = [];
  for (;;) {
    const m = await events.next('bob online');
    if (m.json.id === 'bob') break;
    between.push(describe(m));
  }
  t.same(between, [], 'nothing about alice between her takeover and bob online');
  await mode.tracker.settled();
  t.match(await mode.tracker.user('alice'), { online: true, connections: 1 });
  second.kill();
  const next = await events.find((m) => m.json.id === 'alice', 'alice offline after a real loss');
  t.equal(describe(next), 'alice offline', 'a real loss still goes offline');
});

t.test('attach: a will is held for the takeover window (under 1 s by default); a marked graceful offline is not', async (t) => {
  const broker = await mosquitto(t);
  if (!broker) return;
  const clock = new ManualClock();
  const { running } = await attach(t, broker, {}, { scheduler: clock });
  t.ok(running.bridge.takeovers.windowMs > 0 && running.bridge.takeovers.windowMs <= 1000, 'the default window is at most 1 s');
  const events = new Inbox(await client(t, broker.url, { ...broker.as('watcher'), clientId: 'watcher-1' }));
  await subscribe(events.client, ['presence/user/+']);

  const alice = await device(t, broker.url, broker.as('alice'), 'alice-1');
  t.equal(describe(await events.next('alice online')), 'alice online');
  alice.kill();
  // the will reached the bridge once a timer of the window is pending; the offline waits for it
  await waitFor(() => clock.pending().length > 0, 'the will to reach the bridge');
  t.same(clock.pending(), [running.bridge.takeovers.windowMs]);
  await running.tracker.settled();
  t.match(await running.tracker.user('alice'), { online: true }, 'still online during the window');
  clock.advance(running.bridge.takeovers.windowMs);
  t.match(await events.next('alice offline'), { json: { id: 'alice', action: 'offline', reason: 'announced' } });

  // the thin client marks its own offline as graceful: that one is applied at once, no timer
  const bob = await presenceClient(t, broker.url, 'bob', { password: broker.as('bob').password });
  t.equal(describe(await events.next('bob online')), 'bob online');
  await bob.disconnect();
  t.equal(describe(await events.next('bob offline')), 'bob offline');
  t.equal(clock.pending().length, 0, 'no timer for a graceful offline');
});

t.test('attach churn mixing takeovers, wills and graceful ends: every user ends offline (no offline is lost)', async (t) => {
  const broker = await mosquitto(t);
  if (!broker) return;
  const { running } = await attach(t, broker);
  const users = ['alice', 'bob', 'carol', 'dave', 'erin'];
  await Promise.all(
    users.map(async (user, u) => {
      for (let round = 0; round < 6; round++) {
        const clientId = `${user}-${round % 2}`;
        const first = await device(t, broker.url, broker.as(user), clientId);
        const way = (round + u) % 3;
        if (way === 0) await first.end(); // graceful
        else if (way === 1) first.kill(); // lost: the will, held for the takeover window
        else {
          const second = await device(t, broker.url, broker.as(user), clientId); // takeover
          if (round % 2 === 0) await second.end();
          else second.kill();
        }
      }
    }),
  );
  // a last birth, read by the bridge after everything above (Mosquitto acknowledged all of it before)
  await device(t, broker.url, broker.as('watcher'), 'watcher-last');
  await waitFor(async () => (await running.tracker.user('watcher'))?.online === true, 'the last birth to be read');
  await waitFor(async () => {
    const states = await running.tracker.users(users);
    return states.every((s) => !s?.online) && running.bridge.takeovers.pending === 0;
  }, 'every user offline once all have left');
  await running.bridge.drained();
  const after = new Inbox(await client(t, broker.url, { ...broker.as('watcher'), clientId: 'watcher-end' }));
  await subscribe(after.client, users.map((user) => `presence/user/${user}`));
  const last = new Map<string, string>();
  for (let i = 0; i < users.length; i++) {
    const m = await after.next('the retained user records');
    last.set(String(m.json.id), String(m.json.action));
  }
  t.same(Object.fromEntries(last), Object.fromEntries(users.map((user) => [user, 'offline'])), 'each retained record says offline');
});

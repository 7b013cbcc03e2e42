/**
 * Regression tests for connection races in the aedes adapter. The exact moment a peer hangs up is
 * not something a TCP client can aim at, so these hand aedes a stream whose far end the test controls
 * (aedes.handle takes any duplex, as the WebSocket endpoint does) and end it at the precise step.
 */
import { Duplex } from 'node:stream';
import type { Client } from 'aedes';
import mqttPacket from 'mqtt-packet';
import t from 'tap';
import { client, once, subscribe, watcher } from './fixtures/mqtt.js';
import { serve } from './fixtures/server.js';
import { RawClient } from './fixtures/raw.js';

/** A duplex whose writes (what the broker sends) go to `onWrite`; the test pushes what the peer sends. */
function peer(onWrite: (packetType: number, self: Duplex) => void = () => {}): Duplex {
  const self: Duplex = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      onWrite(chunk[0]! >> 4, self);
      callback();
    },
  });
  self.on('error', () => {});
  return self;
}

function connectPacket(clientId: string, username?: string): Buffer {
  return mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, username, keepalive: 0 });
}

const CONNACK = 2;

/** Resolves once aedes has both reported `clientReady` and `clientDisconnect` for the client on `conn`. */
function readyAndGone(aedes: import('aedes').Aedes, conn: Duplex): Promise<void> {
  let ready = false;
  let gone = false;
  return new Promise((resolve) => {
    const check = () => {
      if (ready && gone) {
        aedes.off('clientReady', onReady);
        aedes.off('clientDisconnect', onGone);
        // the adapter decides a disconnect one microtask later; let it
        setImmediate(resolve);
      }
    };
    const onReady = (c: Client) => {
      if (c.conn === conn) (ready = true), check();
    };
    const onGone = (c: Client) => {
      if (c.conn === conn) (gone = true), check();
    };
    aedes.on('clientReady', onReady);
    aedes.on('clientDisconnect', onGone);
  });
}

t.test('a peer that hangs up while its CONNACK is written is not left online', async (t) => {
  const { server, mqttUrl } = await serve(t);
  const watch = await watcher(t, mqttUrl);
  const { aedes, tracker } = server.broker;
  const conn = peer((type, self) => {
    if (type === CONNACK) self.push(null); // the peer's FIN, right behind the CONNACK
  });
  const settled = readyAndGone(aedes, conn);
  aedes.handle(conn);
  conn.push(connectPacket('ghost'));
  await settled;
  await tracker.settled();
  t.notOk((await tracker.user('ghost'))?.online, 'ghost is not online');
  t.equal((await tracker.stats()).connections, 1, 'only the watcher is connected');
  // It got CONNACK 0, so it was established: online, then offline at once (below: the test of that
  // race), never a dangling online. A live client afterwards: its online is the next event.
  t.match(await watch.next('online of ghost'), { topic: 'presence/user/ghost', json: { action: 'online' } });
  t.match(await watch.next('offline of ghost'), { topic: 'presence/user/ghost', json: { action: 'offline' } });
  await client(t, mqttUrl, { clientId: 'after' });
  const next = await watch.next('online of after');
  t.match(next.json, { action: 'online', id: 'after' });
  const ghostEvents = watch.all.filter((m) => m.json.id === 'ghost');
  t.ok(ghostEvents.length % 2 === 0 && ghostEvents.at(-1)?.json.action !== 'online', 'no dangling online for the ghost');
});

for (const moment of ['before it is registered', 'while the old connection is being closed'] as const) {
  t.test(`a takeover whose new connection dies ${moment} still ends the old one's presence`, async (t) => {
    const { server, mqttUrl } = await serve(t);
    const watch = await watcher(t, mqttUrl);
    const { aedes, tracker } = server.broker;
    const old = await client(t, mqttUrl, { clientId: 'dev-1', username: 'carol' });
    await subscribe(old, 'group/g1'); // with a subscription aedes closes the old connection asynchronously
    await watch.find((m) => m.json.id === 'carol' && m.json.action === 'join', 'carol joins g1');
    const oldClosed = once(old as unknown as NodeJS.EventEmitter, 'close', 'the old connection to be closed by the takeover');

    const taker = peer();
    const authenticate = aedes.authenticate;
    t.teardown(() => void (aedes.authenticate = authenticate));
    aedes.authenticate = (c, username, password, done) =>
      authenticate(c, username, password, (error, ok) => {
        done(error, ok);
        if (c.conn !== taker) return;
        // The new connection's socket dies: at once (it is not registered yet), or one turn later,
        // while aedes is still closing the old connection's subscriptions.
        if (moment === 'before it is registered') taker.destroy();
        else setImmediate(() => taker.destroy());
      });
    aedes.handle(taker);
    taker.push(connectPacket('dev-1', 'carol'));

    await oldClosed;
    const offline = await watch.find((m) => m.topic === 'presence/user/carol', 'carol offline');
    t.match(offline.json, { action: 'offline', id: 'carol' });
    await tracker.settled();
    t.match(await tracker.user('carol'), { online: false, connections: 0, groups: ['g1'] });
    t.notOk((aedes as unknown as { clients: Record<string, unknown> }).clients['dev-1'], 'aedes holds no dead client under the id');
    t.equal(server.broker.connectedClients, 1, 'only the watcher is a live session');

    // the id is usable again, and a new connection under it comes online normally
    await client(t, mqttUrl, { clientId: 'dev-1', username: 'carol' });
    const back = await watch.find((m) => m.topic === 'presence/user/carol', 'carol online again');
    t.match(back.json, { action: 'online' });
  });
}

t.test('two CONNECTs with one id registering at once leave one live client and exact counts', async (t) => {
  const { server, mqttUrl } = await serve(t);
  const watch = await watcher(t, mqttUrl);
  const { aedes, tracker } = server.broker;
  const registry = aedes as unknown as { connectedClients: number; clients: Record<string, { conn: unknown }> };
  const old = await client(t, mqttUrl, { clientId: 'dev-2', username: 'dave' });
  await subscribe(old, 'group/g1'); // so aedes closes the old connection asynchronously
  await watch.find((m) => m.json.id === 'dave' && m.json.action === 'join', 'dave joins g1');
  const oldClosed = once(old as unknown as NodeJS.EventEmitter, 'close', 'the old connection to be taken over');

  // Both arrive in one turn: the first one's registration waits for the old client to close, the
  // second finds it already closing and registers at once; then the first registers over it.
  const readies: Duplex[] = [];
  const first = peer();
  const second = peer();
  const bothReady = new Promise<void>((resolve) =>
    aedes.on('clientReady', (c: Client) => {
      if (c.conn === first || c.conn === second) readies.push(c.conn as Duplex);
      if (readies.length === 2) resolve();
    }),
  );
  aedes.handle(first);
  aedes.handle(second);
  first.push(connectPacket('dev-2', 'dave'));
  second.push(connectPacket('dev-2', 'dave'));
  await oldClosed;
  await bothReady;
  await tracker.settled();

  const alive = [first, second].filter((d) => !d.destroyed);
  t.equal(alive.length, 1, 'exactly one of the two is still connected');
  t.equal(registry.clients['dev-2']?.conn, alive[0], 'and it is the registered one');
  t.equal(registry.connectedClients, 2, 'aedes counts the watcher and that one');
  t.equal(server.broker.connectedClients, 2, 'so does the adapter');
  t.match(await tracker.user('dave'), { online: true, connections: 1 });

  alive[0]!.destroy();
  const offline = await watch.find((m) => m.topic === 'presence/user/dave', 'dave offline');
  t.match(offline.json, { action: 'offline' });
  t.equal(registry.connectedClients, 1, 'back to the watcher alone');
  t.match(await tracker.user('dave'), { online: false, connections: 0 });
});

t.test('a persistent session whose SUBSCRIBE carried a too-deep filter can still reconnect', async (t) => {
  const { server, mqttUrl } = await serve(t);
  const watch = await watcher(t, mqttUrl);
  const first = await RawClient.open(t, server.mqttPort);
  t.equal(await first.connect({ clientId: 'deep-1', username: 'deep', clean: false }), 0);
  await watch.find((m) => m.json.id === 'deep' && m.json.action === 'online', 'deep online');
  // aedes refuses the 121-level filter (and drops the connection), but persists the packet's whole
  // list once the valid filter after it is granted (found by the protocol fuzz, seed 11).
  first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/'.repeat(120) + 'x', qos: 0 }, { topic: 'group/ok', qos: 1 }] });
  await first.whenClosed();
  await watch.find((m) => m.json.id === 'deep' && m.json.action === 'offline', 'deep offline');
  const again = await RawClient.open(t, server.mqttPort);
  t.equal(await again.connect({ clientId: 'deep-1', username: 'deep', clean: false }), 0, 'the session is restorable');
  const online = await watch.find((m) => m.json.id === 'deep' && m.json.action === 'online', 'deep online again');
  t.equal(online.topic, 'presence/user/deep');
});

t.test('a peer that hangs up right behind its CONNACK 0 was online: online, then offline, and its retained record stays', async (t) => {
  const { server, mqttUrl } = await serve(t);
  const watch = await watcher(t, mqttUrl);
  const { aedes, tracker } = server.broker;
  let closedBeforeReady = false;
  aedes.on('clientReady', (c: Client) => {
    if (c.id === 'brief') closedBeforeReady = c.closed;
  });
  const conn = peer((type, self) => {
    if (type === CONNACK) self.push(null); // the peer's FIN, right behind the CONNACK it was sent
  });
  const settled = readyAndGone(aedes, conn);
  aedes.handle(conn);
  conn.push(connectPacket('brief', 'brief-user'));
  await settled;
  t.ok(closedBeforeReady, 'the race happened: aedes reported the connection ready after it had closed');
  const online = await watch.find((m) => m.topic === 'presence/user/brief-user' && m.json.action === 'online', 'brief-user online');
  const offline = await watch.find((m) => m.topic === 'presence/user/brief-user' && m.json.action === 'offline', 'brief-user offline');
  t.ok((offline.json.seq as number) > (online.json.seq as number), 'the offline follows the online');
  t.equal(offline.json.reason, 'connection_lost', 'the peer hung up without DISCONNECT');
  await tracker.settled();
  t.match(await tracker.user('brief-user'), { online: false, connections: 0 });
  // a new subscriber sees the user as every other user ever seen: its last event, retained
  const late = await watcher(t, mqttUrl, ['presence/user/brief-user']);
  const retained = await late.find((m) => m.retain, 'the retained record of brief-user');
  t.match(retained.json, { action: 'offline', id: 'brief-user' });
});

/**
 * Issue 16, item 4: QoS 2 PUBLISHes whose PUBREL never comes must not pin server memory. aedes
 * publishes a QoS 2 message on receipt and keeps the packet until PUBREL only to spot a resent
 * duplicate: 400 of 512 KiB held 133-221 MB, and with a persistent session the store outlived the
 * connection and each reconnect opened a fresh window of 1000. Now the store keeps no payload, and
 * each client id may hold at most `maxInflightMessages` unreleased messages across its connections;
 * beyond that the connection is closed (MQTT 3.1.1 has no other refusal), logged and counted.
 */
import type { Packet } from 'mqtt-packet';
import type { Test } from 'tap';
import t from 'tap';
import { RawClient } from './fixtures/raw.js';
import { heapWhenIdle } from './fixtures/raw-sessions.js';
import { serve } from './fixtures/server.js';
import { client, Inbox } from './fixtures/mqtt.js';

const MiB = 1024 * 1024;
const PAYLOAD = Buffer.alloc(512 * 1024, 0x61);

/** Sends `count` QoS 2 PUBLISHes (ids from `firstId`) and never PUBREL; resolves once each got its PUBREC or the server closed. */
async function unreleased(raw: RawClient, count: number, firstId = 1, payload = PAYLOAD): Promise<number> {
  for (let i = 0; i < count && !raw.closed; i++) {
    raw.send({ cmd: 'publish', topic: 'plain/big', payload, qos: 2, messageId: firstId + i, retain: false, dup: false } as Packet);
    if (raw.socket.writableLength > 4 * MiB) {
      await new Promise<void>((resolve) => {
        raw.socket.once('drain', resolve);
        raw.socket.once('close', resolve);
      });
    }
  }
  const last = firstId + count - 1;
  await raw.waitFor((p) => p.cmd === 'pubrec' && (p as { messageId?: number }).messageId === last, `PUBREC ${last}`).catch(() => undefined);
  return raw.packets.filter((p) => p.cmd === 'pubrec').length;
}

async function open(t: Test, port: number, clientId: string, clean = true): Promise<RawClient> {
  const raw = await RawClient.open(t, port);
  t.equal(await raw.connect({ clientId, clean }), 0, `${clientId} connected`);
  return raw;
}

t.test('400 unreleased QoS 2 PUBLISHes of 512 KiB: closed at the cap, nothing pinned', async (t) => {
  const { server, logs } = await serve(t, { logLevel: 'warn' });
  const base = await heapWhenIdle();
  const raw = await open(t, server.mqttPort, 'hoarder');
  const acknowledged = await unreleased(raw, 400);
  await raw.whenClosed();
  t.equal(acknowledged, 100, 'the first 100 (maxInflightMessages) were taken, then the connection was closed');
  t.ok(logs.some((l) => /unreleased QoS 2/.test(String(l.reason))), 'logged with the reason');
  const held = (await heapWhenIdle()) - base;
  t.ok(held < 16 * MiB, `heap held afterwards: ${(held / MiB).toFixed(1)} MiB (bound 16 MiB; before: 133-221 MB)`);
});

t.test('a persistent session keeps its unreleased count across reconnects, and no payloads', async (t) => {
  const { server } = await serve(t, { logLevel: 'warn', maxInflightMessages: 60 });
  const base = await heapWhenIdle();
  const first = await open(t, server.mqttPort, 'keeper', false);
  t.equal(await unreleased(first, 50), 50, '50 unreleased, under the cap');
  first.socket.destroy();
  await first.whenClosed();
  const held = (await heapWhenIdle()) - base;
  t.ok(held < 8 * MiB, `after the client left, the session holds ${(held / MiB).toFixed(1)} MiB (bound 8 MiB; 25 MiB of payload before)`);
  const again = await open(t, server.mqttPort, 'keeper', false);
  t.equal(await unreleased(again, 20, 1001), 10, 'the window did not restart: 10 more are taken');
  await again.whenClosed();
  t.pass('then the connection is closed');
});

t.test('exactly once still holds: a resent QoS 2 PUBLISH before PUBREL is not delivered twice', async (t) => {
  const { server, mqttUrl } = await serve(t);
  const watch = await client(t, mqttUrl);
  const inbox = new Inbox(watch);
  await watch.subscribeAsync('plain/#', { qos: 2 });
  const raw = await open(t, server.mqttPort, 'sender');
  const publish = { cmd: 'publish', topic: 'plain/once', payload: Buffer.from('one'), qos: 2, messageId: 7, retain: false } as Packet;
  raw.send({ ...publish, dup: false } as Packet);
  await raw.waitFor((p) => p.cmd === 'pubrec', 'PUBREC');
  raw.send({ ...publish, dup: true } as Packet);
  raw.send({ cmd: 'pubrel', messageId: 7 });
  await raw.waitFor((p) => p.cmd === 'pubcomp', 'PUBCOMP');
  raw.send({ cmd: 'publish', topic: 'plain/after', payload: Buffer.from('two'), qos: 0, retain: false, dup: false } as Packet);
  await inbox.find((m) => m.topic === 'plain/after', 'the marker after');
  t.same(inbox.all.map((m) => m.topic), ['plain/once', 'plain/after'], 'the message once, then the marker');
  t.equal(inbox.all[0]!.payload.toString(), 'one', 'with its payload');
});

t.test('a persistent session away keeps at most maxQueuedBytes of payload, the newest', async (t) => {
  const { server, mqttUrl } = await serve(t, { logLevel: 'warn', maxQueuedBytes: 2 * MiB });
  const sleeper = await client(t, mqttUrl, { clientId: 'big-sleeper', clean: false });
  await sleeper.subscribeAsync('big/#', { qos: 1 });
  await sleeper.endAsync();
  const sender = await client(t, mqttUrl);
  for (let i = 0; i < 20; i++) await sender.publishAsync(`big/${i}`, PAYLOAD, { qos: 1 });
  const queues = server.broker.offlineQueues;
  t.equal(queues.size('big-sleeper'), 4, '4 x 512 KiB fit in 2 MiB: 16 of 20 dropped (maxQueuedMessages alone would keep all 20)');
  const back = await client(t, mqttUrl, { clientId: 'big-sleeper', clean: false });
  const inbox = new Inbox(back);
  await inbox.find((m) => m.topic === 'big/19', 'the newest message');
  t.same(inbox.all.map((m) => m.topic), ['big/16', 'big/17', 'big/18', 'big/19'], 'the newest four, in order');
});

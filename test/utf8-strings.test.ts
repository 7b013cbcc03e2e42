/**
 * Issue 16, item 6: MQTT strings must be well-formed UTF-8 without U+0000 [MQTT-1.5.3-1, -2]. Before,
 * mqtt-packet decoded ill-formed bytes to U+FFFD, so the usernames `a\xFF` and `a\xFE` were one user,
 * and a SUBSCRIBE filter with a NUL was granted. Now: in CONNECT the connection is refused with the
 * CONNACK code of the field (client id 2, username 4, will topic 5) and closed; in any other packet
 * (PUBLISH topic, SUBSCRIBE and UNSUBSCRIBE filters) the connection is closed at once.
 */
import type { IConnectPacket, Packet } from 'mqtt-packet';
import type { Test } from 'tap';
import t from 'tap';
import { watcher } from './fixtures/mqtt.js';
import { RawClient } from './fixtures/raw.js';
import { generate, patchBytes } from './fixtures/raw-sessions.js';
import { serve } from './fixtures/server.js';

const FF = Buffer.from([0xff]);
const connect = (fields: Partial<IConnectPacket>) => generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 0, ...fields });

/** Writes raw bytes on a fresh connection; resolves to the CONNACK code (if any) once the server closed it. */
async function refusedConnect(t: Test, port: number, bytes: Buffer): Promise<number | undefined> {
  const raw = await RawClient.open(t, port);
  raw.socket.write(bytes);
  await raw.whenClosed();
  return (raw.packets.find((p) => p.cmd === 'connack') as { returnCode?: number } | undefined)?.returnCode;
}

t.test('ill-formed UTF-8 or NUL in CONNECT: refused with the field\'s CONNACK code, and closed', async (t) => {
  const { server, logs } = await serve(t);
  const port = server.mqttPort;
  t.equal(await refusedConnect(t, port, patchBytes(connect({ clientId: 'c1', username: 'aX' }), 'X', FF)), 4, 'username a\\xFF: CONNACK 4');
  t.equal(await refusedConnect(t, port, patchBytes(connect({ clientId: 'c2', username: 'aX' }), 'X', Buffer.from([0xfe]))), 4, 'username a\\xFE: CONNACK 4');
  t.equal(await refusedConnect(t, port, patchBytes(connect({ clientId: 'idX' }), 'X', FF)), 2, 'client id: CONNACK 2');
  t.equal(await refusedConnect(t, port, patchBytes(connect({ clientId: 'idY' }), 'Y', Buffer.from([0xc0]))), 2, 'client id with a truncated sequence: CONNACK 2');
  const will = { topic: 'plain/wX', payload: Buffer.from('bye'), qos: 1 as const, retain: false };
  t.equal(await refusedConnect(t, port, patchBytes(connect({ clientId: 'c3', will }), 'wX', Buffer.from([0x77, 0xff]))), 5, 'will topic: CONNACK 5');
  t.equal(await refusedConnect(t, port, connect({ clientId: 'c4', will: { ...will, topic: 'plain/w\u0000' } })), 5, 'NUL in the will topic: CONNACK 5');
  t.ok(logs.some((l) => l.msg === 'connection refused' && /ill-formed UTF-8/.test(String(l.reason))), 'the reason is logged');
  t.equal(server.broker.connectedClients, 0, 'none of them is connected');
  const users = await server.broker.tracker.stats();
  t.equal(users.users, 0, 'no user was ever created for them');

  const ok = await RawClient.open(t, port);
  t.equal(await ok.connect({ clientId: 'caf\u00e9-\u{1d11e}', username: 'jos\u00e9' }), 0, 'well-formed multi-byte UTF-8 is accepted');
});

t.test('ill-formed UTF-8 or NUL in PUBLISH, SUBSCRIBE, UNSUBSCRIBE: the connection is closed', async (t) => {
  const { server, mqttUrl } = await serve(t);
  const watch = await watcher(t, mqttUrl, ['#']);
  const cases: [string, Buffer][] = [
    ['PUBLISH topic with 0xFF', patchBytes(generate({ cmd: 'publish', topic: 'plain/X', payload: 'leak', qos: 0, retain: false } as Packet), 'X', FF)],
    ['SUBSCRIBE filter with 0xFF', patchBytes(generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'group/gX', qos: 1 }] } as Packet), 'X', FF)],
    ['SUBSCRIBE filter with NUL', generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'group/a\u0000b', qos: 1 }] } as Packet)],
    ['SUBSCRIBE with one bad filter of two', generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'group/fine', qos: 1 }, { topic: 'x/\u0000', qos: 1 }] } as Packet)],
    ['UNSUBSCRIBE filter with NUL', generate({ cmd: 'unsubscribe', messageId: 1, unsubscriptions: ['group/a\u0000b'] } as Packet)],
    ['UNSUBSCRIBE filter with 0xFF', patchBytes(generate({ cmd: 'unsubscribe', messageId: 1, unsubscriptions: ['group/X'] } as Packet), 'X', FF)],
  ];
  for (const [i, [label, bytes]] of cases.entries()) {
    const raw = await RawClient.open(t, server.mqttPort);
    t.equal(await raw.connect({ clientId: `bad${i}`, username: `bad${i}` }), 0, `${label}: connected first`);
    raw.socket.write(bytes);
    await raw.whenClosed();
    t.notOk(raw.packets.some((p) => p.cmd === 'suback' || p.cmd === 'unsuback'), `${label}: closed without an answer`);
  }
  const memberships = (await server.broker.tracker.stats()).memberships;
  t.equal(memberships, 0, 'no join came from a refused SUBSCRIBE');
  await watch.find((m) => m.topic === 'presence/user/bad5' && m.json.action === 'offline', 'the last bad client offline');
  t.notOk(watch.all.some((m) => m.topic.startsWith('plain/')), 'nothing of the refused PUBLISH was delivered');
});

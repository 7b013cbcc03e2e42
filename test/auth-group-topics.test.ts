import { join } from 'node:path';
import t from 'tap';
import { grants, writeUsersFile } from './fixtures/auth.js';
import { client, Inbox, refusedCode } from './fixtures/mqtt.js';
import { serve } from './fixtures/server.js';

const USERS = {
  alice: { password: 'pw-alice', groups: ['G'] },
  bob: { password: 'pw-bob', groups: ['G'] },
  carol: { password: 'pw-carol', groups: ['G', 'M'] },
  mallory: { password: 'pw-mallory', groups: ['M'] },
};
const as = (user: keyof typeof USERS, clientId = `${user}-1`) => ({ clientId, username: user, password: USERS[user].password });

interface RetainedStore {
  createRetainedStream(pattern: string): AsyncIterable<{ topic: string; payload: Buffer }>;
}

t.test("shared-group: wildcards read no topics of groups the user may not join, live, retained or wills; and it may not publish there", async (t) => {
  const usersFile = await writeUsersFile(join(t.testdir(), 'users.json'), USERS);
  const { server, mqttUrl, logs } = await serve(t, { usersFile, authorization: 'shared-group' });

  // Retained before anyone watches: one in G, one in M.
  const carol = await client(t, mqttUrl, as('carol'));
  await carol.publishAsync('group/G/status', 'retained in G', { qos: 1, retain: true });
  await carol.publishAsync('group/M/status', 'retained in M', { qos: 1, retain: true });

  const mallory = await client(t, mqttUrl, as('mallory'));
  const seen = new Inbox(mallory);
  t.same(await grants(mallory, ['#', 'group/+/#', 'group/M']), [1, 1, 1], 'wildcards are granted (filtered per delivery)');
  t.same(await grants(mallory, ['group/G/#']), [128], 'an exact filter in G is refused, as before');
  await seen.find((m) => m.topic === 'group/M/status', 'the retained message of her own group');

  const alice = await client(t, mqttUrl, as('alice'));
  const aliceSees = new Inbox(alice);
  t.same(await grants(alice, ['group/G/#']), [1], 'alice joins G');
  const bob = await client(t, mqttUrl, as('bob'));
  await bob.publishAsync('group/G/chat', 'for G only', { qos: 1 });
  await aliceSees.find((m) => m.topic === 'group/G/chat', 'alice gets the chat in G');

  // A will in G, seen by alice, not by mallory.
  const dying = await client(t, mqttUrl, { ...as('bob', 'bob-2'), will: { topic: 'group/G/will', payload: Buffer.from('bob-2 lost'), qos: 1, retain: false } });
  dying.stream.destroy();
  await aliceSees.find((m) => m.topic === 'group/G/will', 'alice gets the will in G');

  // mallory publishes into G, live and retained: dropped (acknowledged, logged), stored nowhere.
  await mallory.publishAsync('group/G/chat', 'evil', { qos: 1 });
  await mallory.publishAsync('group/G/pinned', 'evil retained', { qos: 1, retain: true });
  t.ok(logs.some((l) => l.msg === 'publish refused' && l.topic === 'group/G/chat' && /^group not allowed/.test(String(l.reason))), 'the refusal is logged');
  // Marker: carol publishes in G then M; when alice has the G one, mallory's evil would have been before it.
  await carol.publishAsync('group/G/marker', 'marker', { qos: 1 });
  await carol.publishAsync('group/M/chat', 'for M', { qos: 1 });
  await aliceSees.find((m) => m.topic === 'group/G/marker', 'the marker in G');
  await seen.find((m) => m.topic === 'group/M/chat', 'mallory gets what is published in her own group');

  t.same(aliceSees.all.filter((m) => m.payload.toString().startsWith('evil')), [], "mallory's publishes into G reached no one");
  const retained: string[] = [];
  for await (const p of ((server.broker.aedes as unknown as { persistence: RetainedStore }).persistence).createRetainedStream('group/G/#')) retained.push(p.topic);
  t.same(retained, ['group/G/status'], 'her retained publish into G was not stored');
  t.same(seen.all.filter((m) => m.topic.startsWith('group/G')).map((m) => m.topic), [], 'mallory received nothing under group/G: no live, retained or will message');

  // Her own will on a topic of G is refused at CONNECT, while she can still be told; one in M is fine.
  const will = (topic: string) => ({ topic, payload: Buffer.from('x'), qos: 1 as const, retain: false });
  t.equal(await refusedCode(mqttUrl, { ...as('mallory', 'mallory-2'), will: will('group/G/will') }), 5, 'a will into G: CONNACK 5');
  t.ok(logs.some((l) => l.msg === 'connection refused' && l.reason === "will refused: group 'G' not allowed for this user"), 'logged');
  t.ok((await client(t, mqttUrl, { ...as('mallory', 'mallory-3'), will: will('group/M/will') })).connected, 'a will into her own group is accepted');
});

t.test('the open policy leaves group topics as they were', async (t) => {
  const usersFile = await writeUsersFile(join(t.testdir(), 'users.json'), USERS);
  const { mqttUrl } = await serve(t, { usersFile });
  const mallory = await client(t, mqttUrl, as('mallory'));
  const seen = new Inbox(mallory);
  await grants(mallory, ['group/+/#']);
  const bob = await client(t, mqttUrl, as('bob'));
  await bob.publishAsync('group/G/chat', 'open', { qos: 1 });
  t.equal((await seen.find((m) => m.topic === 'group/G/chat', 'the chat')).payload.toString(), 'open');
});

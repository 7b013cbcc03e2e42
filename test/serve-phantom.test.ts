import t from 'tap';
import { client, subscribe, WAIT_MS } from './fixtures/mqtt.js';
import { waitFor } from './fixtures/raw-sessions.js';
import { serve } from './fixtures/server.js';

const DEEP = Array.from({ length: 150 }, (_, i) => `l${i}`).join('/');

/** Sends one SUBSCRIBE that aedes rejects as a whole; resolves once the connection is gone. */
async function rejectedSubscribe(c: Awaited<ReturnType<typeof client>>, filters: string[]): Promise<void> {
  const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
  c.subscribe(filters, { qos: 1 }, () => {});
  await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error('the connection was not closed')), WAIT_MS))]);
}

t.test('a SUBSCRIBE aedes rejects as a whole leaves no member behind (it counts against no limit)', async (t) => {
  const { server, mqttUrl, httpUrl } = await serve(t, { maxMembersPerGroup: 1, maxGroupsPerUser: 1 });
  const mallory = await client(t, mqttUrl, { clientId: 'mallory-1', username: 'mallory' });
  await rejectedSubscribe(mallory, ['group/G', DEEP]);
  await server.broker.tracker.settled();
  t.equal((await fetch(`${httpUrl}/v1/groups/G`)).status, 404, 'G has no members');
  t.equal(server.broker.security.membership.memberCount('G'), 0);
  t.notOk(server.broker.security.membership.isMember('mallory', 'G'), 'no watch rights from a join that never happened');

  // another user may now fill the one seat
  const bob = await client(t, mqttUrl, { clientId: 'bob-1', username: 'bob' });
  t.same(await subscribe(bob, 'group/G'), [1], 'the seat is free');
  await waitFor(async () => (await fetch(`${httpUrl}/v1/groups/G`)).status === 200, 'G to have bob');
  const roster = (await (await fetch(`${httpUrl}/v1/groups/G`)).json()) as { members: { id: string }[] };
  t.same(roster.members.map((m) => m.id), ['bob']);

  // mallory's own per-user cap was not used up either
  const again = await client(t, mqttUrl, { clientId: 'mallory-2', username: 'mallory' });
  t.same(await subscribe(again, 'group/H'), [1], "mallory's group slot is free");
  t.same(await subscribe(again, 'group/G'), [128], 'and G is full now, for real');
});

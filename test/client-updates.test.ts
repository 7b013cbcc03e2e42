/**
 * The thin client's updatePresence end to end, in serve and attach: watchers' handlers get `update`
 * events, presenceOf and rosters follow, the birth and will after a reconnect carry the latest data,
 * invalid data fails locally; lastSeen reaches the client's query results.
 */
import t from 'tap';
import { IM_EVENT } from '../src/client/index.js';
import { Recorder } from './fixtures/client.js';
import { forEachMode } from './fixtures/modes.js';

forEachMode(t, 'updatePresence: handlers, presenceOf and rosters see the update; the next birth and will carry it', async (t, mode) => {
  // alice comes back after 1.5 s, beyond attach mode's takeover window: her drop is a real loss (a birth
  // within the window would be taken for a takeover, with no offline/online pair: docs/attach.md).
  const line = await mode.droppable(t, 'alice-tab');
  const announced = await mode.announcements(t, 'alice', 'alice-tab');
  const watch = await mode.watcher(t);
  const bob = await mode.client(t, 'bob');
  const bobSees = new Recorder(bob);
  const alice = await mode.client(t, 'alice', { url: line.url, clientId: 'alice-tab', reconnectPeriodMs: 1500, data: { name: 'A' } });
  await alice.subscribeGroup({ groupIds: ['lobby'] });
  await watch.find((m) => m.topic === 'presence/group/lobby' && m.json.id === 'alice', 'alice joins lobby');
  await bob.subscribeUserPresence({ userIds: ['alice'] });
  await bob.subscribeGroupPresence({ groupIds: ['lobby'] });
  t.match((await bobSees.next('alice snapshot')).payload, { action: 'online', id: 'alice' });
  t.match(await announced.next('the first birth'), { action: 'online', data: { name: 'A' } });

  let succeeded = false;
  await alice.updatePresence({ data: { name: 'A', status: 'busy' }, onSuccess: () => (succeeded = true) });
  t.ok(succeeded, 'onSuccess called');
  t.match(await announced.next('the update announcement'), { action: 'update', data: { name: 'A', status: 'busy' } });
  const userUpdate = await bobSees.find((r) => r.event === IM_EVENT.USER_PRESENCE, 'the USER_PRESENCE update');
  t.match(userUpdate.payload, { action: 'update', id: 'alice', data: { status: 'busy' } });
  const groupUpdate = await bobSees.find((r) => r.event === IM_EVENT.GROUP_PRESENCE, 'the GROUP_PRESENCE update');
  t.match(groupUpdate.payload, { action: 'update', id: 'alice', groupId: 'lobby', groupOnlineCount: 1, data: { status: 'busy' } });
  t.match(bob.presenceOf('alice'), { action: 'update', data: { status: 'busy' } }, 'presenceOf reflects it');
  t.match(bob.groupMembers('lobby')?.members.find((m) => m.id === 'alice'), { online: true, data: { status: 'busy' } }, 'the roster reflects it');

  // Invalid data fails locally, through the Promise and onFailed alike; nothing is published.
  let failed: { code: number } | undefined;
  await t.rejects(alice.updatePresence({ data: ['x'] as unknown as Record<string, unknown>, onFailed: (e) => (failed = e) }), { code: 400 });
  t.match(failed, { code: 400 });
  await t.rejects(alice.updatePresence({ data: { big: 'x'.repeat(2000) } }), { code: 400 });

  // After a reconnect the will and the birth carry the latest data: no update, no revert.
  line.drop();
  t.match((await watch.find((m) => m.topic === 'presence/user/alice' && m.json.action === 'offline', 'alice offline')).json, { action: 'offline', data: { status: 'busy' } });
  t.match(await announced.find((a) => a.action === 'online', 'the new birth'), { action: 'online', data: { name: 'A', status: 'busy' } });
  const back = await watch.find((m) => m.topic === 'presence/user/alice' && m.json.action !== 'offline', 'alice online again');
  t.match(back.json, { action: 'online', data: { status: 'busy' } }, 'online again with the latest data, no update before it');

  // lastSeen in the client's query results once alice is gone.
  await alice.disconnect();
  const offline = (await watch.find((m) => m.topic === 'presence/user/alice' && m.json.action === 'offline', 'alice offline at the end')).json;
  const here = await bob.hereNow({ userIds: ['alice'] });
  t.match(here.users[0], { id: 'alice', online: false, lastSeen: offline.time, data: { status: 'busy' } });
  const page = await bob.groupHereNow({ groupId: 'lobby' });
  t.match(page.members.find((m) => m.id === 'alice'), { online: false, lastSeen: offline.time });
  await bobSees.find((r) => r.event === IM_EVENT.GROUP_PRESENCE && r.payload.action === 'offline' && r.payload.time === offline.time, 'alice offline in lobby');
  t.match(bob.groupMembers('lobby')?.members.find((m) => m.id === 'alice'), { online: false, lastSeen: offline.time }, 'the roster has lastSeen');
}, { users: ['alice', 'bob'] });

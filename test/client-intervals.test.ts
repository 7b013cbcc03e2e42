import t from 'tap';
import type { PresenceClient } from '../src/client/index.js';
import { Recorder } from './fixtures/client.js';
import { forEachMode, type Mode } from './fixtures/modes.js';
import { ManualClock } from './fixtures/clock.js';
import { until } from './fixtures/scheduler.js';

const GROUP = 'big';
const scheduler = new ManualClock();

async function modelHas(mode: Mode, id: string, check: (u: { online: boolean; groups: string[] } | undefined) => boolean, label: string) {
  await until(async () => check(await mode.tracker.user(id)), label);
  await mode.tracker.settled();
}

const roster = (c: PresenceClient) =>
  c
    .groupMembers(GROUP)!
    .members.map((m) => `${m.id}:${m.online ? 'on' : 'off'}`)
    .sort();

forEachMode(
  t,
  'the thin client expands interval events into GROUP_PRESENCE events, keeps the roster, re-reads it when truncated',
  async (t, mode) => {
    const watcher = await mode.client(t, 'watcher');
    const events = new Recorder(watcher, ['GROUP_PRESENCE']);
    await watcher.subscribeGroupPresence({ groupIds: [GROUP] });
    await watcher.groupHereNow({ groupId: GROUP });
    const members: Record<string, PresenceClient> = {};
    const join = async (id: string) => {
      members[id] = await mode.client(t, id);
      await members[id]!.subscribeGroup({ groupIds: [GROUP] });
      await modelHas(mode, id, (u) => !!u?.groups.includes(GROUP), `${id} a member`);
    };
    const brief = (p: Record<string, unknown>) => `${p.action}:${p.id}:${p.groupOnlineCount}`;

    for (const id of ['m1', 'm2']) await join(id);
    t.same([brief((await events.next()).payload), brief((await events.next()).payload)], ['join:m1:1', 'join:m2:2'], 'per member under the limit');

    await join('m3');
    await join('m4');
    await members.m1!.disconnect();
    await modelHas(mode, 'm1', (u) => u?.online === false, 'm1 offline');
    scheduler.fireAll();
    const expanded = [brief((await events.next()).payload), brief((await events.next()).payload), brief((await events.next()).payload)];
    t.same(expanded, ['join:m3:3', 'join:m4:3', 'offline:m1:3'], 'one event per listed user, each with the interval count');
    t.same(roster(watcher), ['m1:off', 'm2:on', 'm3:on', 'm4:on'], 'the roster follows');
    t.equal(watcher.groupMembers(GROUP)!.onlineCount, 3);

    // Four changes, three ids allowed: cut, and the roster is re-read to learn the fourth.
    await join('m5');
    await join('m6');
    for (const id of ['m2', 'm3']) {
      await members[id]!.disconnect();
      await modelHas(mode, id, (u) => u?.online === false, `${id} offline`);
    }
    scheduler.fireAll();
    const listed = [brief((await events.next()).payload), brief((await events.next()).payload), brief((await events.next()).payload)];
    t.same(listed, ['join:m5:3', 'join:m6:3', 'offline:m2:3'], 'the listed ids only');
    await until(() => roster(watcher).includes('m3:off'), 'the roster re-read after a truncated interval');
    t.same(roster(watcher), ['m1:off', 'm2:off', 'm3:off', 'm4:on', 'm5:on', 'm6:on'], 'the re-read roster has what the lists left out');
    t.equal(watcher.groupMembers(GROUP)!.complete, true);
    t.equal(watcher.groupMembers(GROUP)!.onlineCount, 3);
  },
  {
    users: ['m1', 'm2', 'm3', 'm4', 'm5', 'm6'],
    serve: { announceMax: 2, intervalMaxIds: 3 },
    attach: { announceMax: 2, intervalMaxIds: 3 },
    feed: { scheduler },
  },
);

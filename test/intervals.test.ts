import t from 'tap';
import type { PresenceClient } from '../src/client/index.js';
import { forEachMode, type Mode } from './fixtures/modes.js';
import type { Inbox, Received } from './fixtures/mqtt.js';
import { ManualClock } from './fixtures/clock.js';
import { until } from './fixtures/scheduler.js';

const MEMBERS = ['m1', 'm2', 'm3', 'm4', 'm5', 'm6'];
const GROUP = 'big';

/** The next event on presence/group/<GROUP>; user events before it are collected into `users`. */
async function nextGroup(watch: Inbox, users: string[], label: string): Promise<Record<string, unknown>> {
  for (;;) {
    const m: Received = await watch.next(label);
    if (m.topic === `presence/group/${GROUP}`) return m.json;
    if (m.topic.startsWith('presence/user/')) users.push(`${m.json.action}:${m.json.id}`);
  }
}

const brief = (e: Record<string, unknown>) =>
  e.action === 'interval'
    ? {
        interval: true,
        joined: e.joined,
        left: e.left,
        online: e.online,
        offline: e.offline,
        count: e.groupOnlineCount,
        ...(e.truncated ? { truncated: e.truncated } : {}),
      }
    : `${e.action}:${e.id}:${e.groupOnlineCount}`;

/** Waits until the model holds `check` for a user, then until its queue has emitted everything. */
async function modelHas(mode: Mode, id: string, check: (u: { online: boolean; groups: string[] } | undefined) => boolean, label: string) {
  await until(async () => check(await mode.tracker.user(id)), label);
  await mode.tracker.settled();
}

const scheduler = new ManualClock();

forEachMode(
  t,
  'interval mode: per-member under the limit, intervals over it, flaps, truncation, leave, and back',
  async (t, mode) => {
    const watch = await mode.watcher(t);
    const users: string[] = [];
    const clients: Record<string, PresenceClient> = {};
    const connect = async (id: string) => (clients[id] = await mode.client(t, id));
    const join = async (id: string) => {
      await (clients[id] ?? (await connect(id))).subscribeGroup({ groupIds: [GROUP] });
      await modelHas(mode, id, (u) => !!u?.groups.includes(GROUP), `${id} a member`);
    };
    const exactCount = async (event: Record<string, unknown>) =>
      t.equal(event.groupOnlineCount, (await mode.tracker.groupOnlineCounts([GROUP])).get(GROUP), 'the count is exact at the end of the interval');

    for (const [i, id] of ['m1', 'm2', 'm3'].entries()) {
      await join(id);
      t.equal(brief(await nextGroup(watch, users, `${id}'s join`)), `join:${id}:${i + 1}`, 'at the limit, each member is announced');
    }

    await join('m4');
    scheduler.fireAll();
    let event = await nextGroup(watch, users, 'the first interval');
    t.same(brief(event), { interval: true, joined: ['m4'], left: [], online: [], offline: [], count: 4 }, 'past the limit: the join that crossed it is in the first interval, not announced alone');
    t.ok(users.includes('online:m4'), 'user events are unchanged');
    await exactCount(event);

    await clients.m1!.disconnect();
    await modelHas(mode, 'm1', (u) => u?.online === false, 'm1 offline');
    await connect('m1');
    await modelHas(mode, 'm1', (u) => u?.online === true, 'm1 back');
    await clients.m2!.disconnect();
    await modelHas(mode, 'm2', (u) => u?.online === false, 'm2 offline');
    scheduler.fireAll();
    event = await nextGroup(watch, users, 'the flap interval');
    t.same(brief(event), { interval: true, joined: [], left: [], online: [], offline: ['m2'], count: 3 }, 'a flap inside one interval is in no list');
    t.ok(users.includes('offline:m1') && users.includes('offline:m2'), 'every user event still goes out');
    await exactCount(event);

    scheduler.fireAll();
    await join('m5');
    await join('m6');
    await clients.m3!.disconnect();
    await modelHas(mode, 'm3', (u) => u?.online === false, 'm3 offline');
    scheduler.fireAll();
    event = await nextGroup(watch, users, 'the truncated interval');
    t.same(brief(event), { interval: true, joined: ['m5', 'm6'], left: [], online: [], offline: [], count: 4, truncated: true }, 'cut at --interval-max-ids, and says so');
    t.same(Object.keys(event.seqs as object).sort(), ['m5', 'm6'], 'a seq for each listed user');
    await exactCount(event);

    await clients.m5!.unsubscribeGroup({ groupIds: [GROUP] });
    await modelHas(mode, 'm5', (u) => !u?.groups.includes(GROUP), 'm5 gone from the group');
    scheduler.fireAll();
    event = await nextGroup(watch, users, 'the leave interval');
    t.same(brief(event), { interval: true, joined: [], left: ['m5'], online: [], offline: [], count: 3 }, 'a leave is listed');
    await exactCount(event);

    // 5 members: m6 leaving leaves 4 (still over), m4 leaving leaves 3: back to per-member at once.
    await clients.m6!.unsubscribeGroup({ groupIds: [GROUP] });
    await clients.m4!.unsubscribeGroup({ groupIds: [GROUP] });
    await modelHas(mode, 'm4', (u) => !u?.groups.includes(GROUP), 'm4 gone from the group');
    event = await nextGroup(watch, users, 'the interval cut short by the switch');
    t.same(brief(event), { interval: true, joined: [], left: ['m6'], online: [], offline: [], count: 2 }, 'the interval so far goes out first, without waiting for the tick');
    t.equal(brief(await nextGroup(watch, users, "m4's leave")), 'leave:m4:1', 'then the change that brought the group back to the limit, by itself');

    await connect('m2');
    t.equal(brief(await nextGroup(watch, users, "m2's online")), 'online:m2:2', 'under the limit again: per-member events');
    scheduler.fireAll();

    const metrics = await (await fetch(`${mode.httpUrl}/metrics`)).text();
    t.match(metrics, /presence_interval_events_total 5\b/, 'interval events counted');
    t.match(metrics, /presence_interval_ids_total 6\b/, 'ids listed counted');
    t.match(metrics, /presence_interval_truncations_total 1\b/, 'truncations counted');
  },
  {
    users: MEMBERS,
    serve: { announceMax: 3, intervalMaxIds: 2 },
    attach: { announceMax: 3, intervalMaxIds: 2 },
    feed: { scheduler },
  },
);

forEachMode(
  t,
  'interval mode off (--announce-max 0): every change is announced, no timer runs',
  async (t, mode) => {
    const watch = await mode.watcher(t);
    const users: string[] = [];
    for (const [i, id] of ['m1', 'm2'].entries()) {
      const c = await mode.client(t, id);
      await c.subscribeGroup({ groupIds: [GROUP] });
      t.equal(brief(await nextGroup(watch, users, `${id}'s join`)), `join:${id}:${i + 1}`);
    }
    t.equal(scheduler.pending().length, 0, 'no interval timer');
  },
  { users: MEMBERS, serve: { announceMax: 0 }, attach: { announceMax: 0 }, feed: { scheduler } },
);

/**
 * Interval mode across a cluster (issue 13: "in a cluster one node publishes a group's interval event";
 * docs/cluster.md "Large groups in a cluster"): two real `serve --redis` processes on one real
 * redis-server, members on both, one watcher per node. Every change is reported once (per member under
 * the limit, in exactly one interval over it) with the cluster-wide count, also when the publishing node
 * is killed and another takes over, and at the switch back to per-member events.
 */
import type { MqttClient } from 'mqtt';
import t, { type Test } from 'tap';
import { getJson, startNode, type ClusterNodeProcess } from '../fixtures/cluster.js';
import { client, subscribe, WAIT_MS } from '../fixtures/mqtt.js';
import { startRedis } from '../fixtures/redis.js';

const NODE_TIMEOUT = 2000;
const ANNOUNCE_MAX = 5;
const GROUP = 'big';

type Report = 'join' | 'leave' | 'online' | 'offline';

/** What a watcher of `presence/group/big` learnt: every id reported per kind, the roster, the count. */
class GroupWatch {
  readonly reports: Record<Report, string[]> = { join: [], leave: [], online: [], offline: [] };
  readonly roster = new Map<string, boolean>();
  perMember: string[] = [];
  intervals = 0;
  count = -1;
  private waiters: (() => void)[] = [];

  constructor(c: MqttClient) {
    c.on('message', (_topic, payload) => {
      const e = JSON.parse(payload.toString()) as Record<string, unknown>;
      if (e.action === 'interval') {
        this.intervals++;
        const lists: [Report, string][] = [['join', 'joined'], ['leave', 'left'], ['online', 'online'], ['offline', 'offline']];
        for (const [kind, field] of lists) for (const id of e[field] as string[]) this.apply(kind, id);
      } else {
        this.perMember.push(`${String(e.action)}:${String(e.id)}`);
        this.apply(e.action as Report, String(e.id));
      }
      this.count = e.groupOnlineCount as number;
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  private apply(kind: Report, id: string): void {
    this.reports[kind].push(id);
    if (kind === 'leave') this.roster.delete(id);
    else this.roster.set(id, kind !== 'offline');
  }

  /** Waits (event driven) until `check` holds. */
  async until(check: () => boolean, label: string): Promise<void> {
    const deadline = Date.now() + 3 * WAIT_MS;
    while (!check()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${label}: ${JSON.stringify({ reports: this.reports, count: this.count })}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  online(): string[] {
    return [...this.roster].filter(([, on]) => on).map(([id]) => id).sort();
  }
}

async function groupWatch(t: Test, node: ClusterNodeProcess, id: string): Promise<GroupWatch> {
  const c = await client(t, node.mqtt, { clientId: id, username: id });
  const watch = new GroupWatch(c);
  await subscribe(c, `presence/group/${GROUP}`);
  return watch;
}

const sorted = (ids: string[]) => [...ids].sort();

t.test('one node publishes a large group\'s intervals for the whole cluster; a leader kill loses and repeats nothing', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  const extra = ['--announce-max', String(ANNOUNCE_MAX), '--interval-ms', '300'];
  const nodes = await Promise.all([startNode(t, redis, 'A', NODE_TIMEOUT, extra), startNode(t, redis, 'B', NODE_TIMEOUT, extra)]);
  const [a, b] = nodes as [ClusterNodeProcess, ClusterNodeProcess];
  const watches = await Promise.all([groupWatch(t, a, 'watch-a'), groupWatch(t, b, 'watch-b')]);
  const home: Record<string, ClusterNodeProcess> = {};
  const members: Record<string, MqttClient> = {};
  const connect = async (id: string, node: ClusterNodeProcess) => {
    home[id] = node;
    members[id] = await client(t, node.mqtt, { clientId: id, username: id });
    members[id]!.on('close', () => {});
  };
  const ids = ['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', 'm8'];
  await Promise.all(ids.map((id, i) => connect(id, i % 2 === 0 ? a : b)));

  // Up to the limit: per-member joins from both nodes, in the order they happened.
  const small = ids.slice(0, ANNOUNCE_MAX);
  for (const [i, id] of small.entries()) {
    await subscribe(members[id]!, `group/${GROUP}`);
    for (const w of watches) await w.until(() => w.reports.join.length === i + 1, `${id} joined`);
  }
  for (const w of watches) t.same(w.perMember, small.map((id) => `join:${id}`), 'per member under the limit, both nodes');

  // Over it: the rest join at once from both nodes; one interval publisher lists them, once each.
  await Promise.all(ids.slice(ANNOUNCE_MAX).map((id) => subscribe(members[id]!, `group/${GROUP}`)));
  for (const w of watches) {
    await w.until(() => w.reports.join.length >= ids.length && w.count === ids.length, 'every join');
    t.same(sorted(w.reports.join), sorted(ids), 'every member listed once');
    t.equal(w.perMember.length, ANNOUNCE_MAX, 'no per-member event over the limit');
    t.ok(w.intervals >= 1, 'interval events');
    t.equal(w.count, ids.length, 'the cluster-wide count');
  }

  // Kill -9 the interval leader; a member joins on the survivor while no one leads.
  const leaderId = await redis.client().get('presence:iv:leader');
  t.ok(leaderId === 'A' || leaderId === 'B', `a leader holds the lease (${leaderId})`);
  const [dead, survivor] = leaderId === 'A' ? [a, b] : [b, a];
  const watch = watches[nodes.indexOf(survivor)]!;
  const lost = ids.filter((id) => home[id] === dead);
  await dead.crash();
  await connect('m9', survivor);
  await subscribe(members.m9!, `group/${GROUP}`);
  const stayed = [...ids.filter((id) => home[id] === survivor), 'm9'];
  await watch.until(() => watch.reports.offline.length >= lost.length && watch.reports.join.includes('m9') && watch.count === stayed.length, 'the dead node\'s members offline, m9 joined');
  t.same(sorted(watch.reports.offline), sorted(lost), 'each member of the dead node offline once');
  t.same(sorted(watch.reports.join), sorted([...ids, 'm9']), 'm9 listed once, by the new leader');
  t.equal(await redis.client().get('presence:iv:leader'), survivor.id, 'the survivor leads');
  t.same(watch.online(), sorted(stayed), 'the roster online = the truth');
  const truth = (await getJson(survivor, `/v1/groups/${GROUP}`)).body;
  t.match(truth, { total: ids.length + 1, onlineCount: stayed.length });

  // Back under the limit: the survivors leave (9 -> 4 members); the interval lists them, then a join
  // (5 members, at the limit) is a per-member event again.
  const leaving = stayed.slice(0, ids.length + 2 - ANNOUNCE_MAX);
  t.equal(leaving.length, stayed.length, 'every online member leaves');
  await Promise.all(leaving.map((id) => members[id]!.unsubscribeAsync(`group/${GROUP}`)));
  await watch.until(() => watch.reports.leave.length === leaving.length, 'the leaves');
  t.same(sorted(watch.reports.leave), sorted(leaving), 'each leave listed once');
  t.equal(watch.count, stayed.length - leaving.length, 'count after the leaves');
  const perMemberBefore = watch.perMember.length;
  await connect('m10', survivor);
  await subscribe(members.m10!, `group/${GROUP}`);
  await watch.until(() => watch.perMember.length > perMemberBefore, 'a per-member event again');
  t.same(watch.perMember.slice(perMemberBefore), ['join:m10'], 'at the limit again: m10 joins per member');
  t.equal(watch.count, stayed.length - leaving.length + 1);
  t.same(sorted(watch.reports.join), sorted([...ids, 'm9', 'm10']), 'nothing reported twice over the whole run');
});

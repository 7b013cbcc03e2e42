import t from 'tap';
import type { MqttClient } from 'mqtt';
import { client, subscribe, watcher } from './fixtures/mqtt.js';
import { querier } from './fixtures/query.js';
import { serve } from './fixtures/server.js';

interface Page {
  groupId: string;
  total: number;
  onlineCount: number;
  offset: number;
  limit: number;
  members: { id: string; online: boolean; data: Record<string, unknown> }[];
}

const USERS = 300;
const BATCH = 50;

t.test('paging over a group of 300 real members, online first, over MQTT and HTTP', async (t) => {
  const { mqttUrl, httpUrl } = await serve(t);
  const watch = await watcher(t, mqttUrl, ['presence/group/big']);
  const ids = Array.from({ length: USERS }, (_, i) => `member-${String(i).padStart(3, '0')}`);
  const clients: MqttClient[] = [];
  // Each member is its own user on its own connection, joining by subscribing; in batches, to be
  // kind to a shared machine.
  for (let start = 0; start < USERS; start += BATCH) {
    const batch = await Promise.all(
      ids.slice(start, start + BATCH).map(async (id, i) => {
        const c = await client(t, mqttUrl, {
          clientId: `${id}-c`,
          username: id,
          will: { topic: `presence/conn/${id}/${id}-c`, payload: Buffer.from(JSON.stringify({ action: 'offline', data: { n: start + i } })), qos: 1, retain: true },
        });
        await subscribe(c, 'group/big');
        return c;
      }),
    );
    clients.push(...batch);
  }
  await watch.find((m) => m.json.action === 'join' && m.json.groupOnlineCount === USERS, 'all 300 joined');

  // Two in five go offline, spread through the join order; they stay members.
  const leaving = new Set(ids.filter((_, i) => i % 5 < 2));
  await Promise.all(clients.filter((_, i) => leaving.has(ids[i]!)).map((c) => c.endAsync()));
  const online = USERS - leaving.size;
  await watch.find((m) => m.json.action === 'offline' && m.json.groupOnlineCount === online, `${leaving.size} offline`);

  const q = await querier(t, mqttUrl, { clientId: 'pager' });
  const pages: Page[] = [];
  for (let offset = 0; ; offset += 64) {
    const page = await q.result<Page>('groupHereNow', { groupId: 'big', limit: 64, offset });
    pages.push(page);
    if (page.members.length < 64) break;
  }
  t.equal(pages.length, 5, '300 members in pages of 64');
  for (const [i, page] of pages.entries()) {
    t.match(page, { groupId: 'big', total: USERS, onlineCount: online, offset: i * 64, limit: 64 }, `page ${i} totals`);
  }
  const members = pages.flatMap((page) => page.members);
  t.equal(members.length, USERS, 'every member once');
  t.equal(new Set(members.map((m) => m.id)).size, USERS, 'no member on two pages');
  t.same(members.slice(0, online).filter((m) => !m.online), [], `the first ${online} are online`);
  t.same(members.slice(online).filter((m) => m.online), [], 'then the offline ones');
  t.same(new Set(members.filter((m) => !m.online).map((m) => m.id)), leaving, 'offline are exactly those who left');
  t.same(members.filter((m) => m.data.n !== ids.indexOf(m.id)), [], 'each member with its own data');

  const whole = await q.result<Page>('groupHereNow', { groupId: 'big', limit: 1000 });
  t.same(whole.members, members, 'one big page equals the pages put together (stable order)');

  const viaHttp: Page[] = [];
  for (let offset = 0; offset < USERS; offset += 100) {
    const res = await fetch(`${httpUrl}/v1/groups/big?limit=100&offset=${offset}`);
    t.equal(res.status, 200);
    viaHttp.push((await res.json()) as Page);
  }
  t.same(viaHttp.flatMap((page) => page.members), members, 'HTTP pages agree with MQTT');
  t.match(viaHttp[2], { total: USERS, onlineCount: online, offset: 200, limit: 100 });
  const defaultPage = (await (await fetch(`${httpUrl}/v1/groups/big`)).json()) as Page;
  t.match(defaultPage, { offset: 0, limit: 100 }, 'default page size');
  t.equal(defaultPage.members.length, 100);
});

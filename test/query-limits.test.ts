import t from 'tap';
import { querier } from './fixtures/query.js';
import { serve } from './fixtures/server.js';

// A rate this small adds no token while a test runs: the burst alone decides, whatever the machine's load.
const FROZEN_RATE = 0.0001;

t.test('MQTT: a client over its query rate gets 429 with its request id; other clients are not affected', async (t) => {
  const { mqttUrl, httpUrl, logs } = await serve(t, { queryRatePerClient: FROZEN_RATE, queryBurstPerClient: 3 });
  const flooder = await querier(t, mqttUrl, { clientId: 'flooder' });
  const replies = [];
  for (let i = 0; i < 5; i++) replies.push(await flooder.ask('hereNow', { userIds: ['alice'] }));
  t.same(replies.map((r) => ('result' in r ? 'ok' : (r.error as { code: number }).code)), ['ok', 'ok', 'ok', 429, 429], 'the burst is served, then 429');
  t.match(replies[4], { id: 'r5', error: { code: 429, content: /^too many queries: over 0\.0001\/s per client/ } }, 'the refusal echoes the request id');
  t.ok(logs.some((l) => l.msg === 'query refused' && l.clientId === 'flooder' && /^too many queries/.test(String(l.reason))), 'logged');

  const other = await querier(t, mqttUrl, { clientId: 'other' });
  t.ok('result' in (await other.ask('hereNow', { userIds: ['alice'] })), 'another client has its own allowance');
  const metrics = await (await fetch(`${httpUrl}/metrics`)).text();
  t.match(metrics, /presence_query_duration_seconds_count\{method="limited",transport="mqtt",code="429"\} 2/, 'counted in /metrics');
});

t.test('MQTT: a query nested deeper than maxQueryDepth is refused (413) before it is parsed', async (t) => {
  const { mqttUrl } = await serve(t, { maxQueryDepth: 8 });
  const q = await querier(t, mqttUrl, { clientId: 'deep' });
  const deep = `{"id":"d1","method":"hereNow","params":{"userIds":${'['.repeat(20_000)}${']'.repeat(20_000)}}}`;
  const reply = await q.raw(deep);
  t.match(reply.json, { id: null, error: { code: 413, content: 'request is nested deeper than 8 levels' } });
  // Brackets inside strings are not nesting.
  t.ok('result' in (await q.ask('hereNow', { userIds: ['[[[[[[[[[[[['] })), 'brackets in a string do not count');
  t.ok('result' in (await q.ask('groupHereNow', { groupId: 'g' })), 'an ordinary query is answered');
});

t.test('HTTP: a source address over its /v1 rate gets 429 with Retry-After', async (t) => {
  const { httpUrl } = await serve(t, { httpQueryRatePerIp: FROZEN_RATE, httpQueryBurstPerIp: 2 });
  const statuses = [];
  let last: Response | undefined;
  for (let i = 0; i < 4; i++) {
    last = await fetch(`${httpUrl}/v1/users?ids=alice`);
    statuses.push(last.status);
  }
  t.same(statuses, [200, 200, 429, 429]);
  t.equal(last!.headers.get('retry-after'), '1');
  t.match(await last!.json(), { error: { code: 429, content: /^too many queries: over 0\.0001\/s per address/ } });
  t.equal((await fetch(`${httpUrl}/healthz`)).status, 200, '/healthz is not rate limited');
});

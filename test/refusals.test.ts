/**
 * Refusals are data (issue 12): every refusal carries a code from the closed set of
 * src/log/refusals.ts, the refusal metrics' `reason` label is that code, and the refusal log prints it
 * as `code`. The words (`detail`, logged as `reason`) are free to change: nothing parses them back.
 */
import { readdir, readFile } from 'node:fs/promises';
import t from 'tap';
import type { Authenticator, Credentials } from '../src/auth/authenticator.js';
import type { UpdateRefusalCode } from '../src/core/events.js';
import type { DropReason } from '../src/feed/webhook-delivery.js';
import { PresenceMetrics } from '../src/http/metrics.js';
import { isRefusalCode, REFUSAL_CODES, type RefusalCode } from '../src/log/refusals.js';
import { client, refusedCode, subscribe } from './fixtures/mqtt.js';
import { sample, scrape } from './fixtures/prometheus.js';
import { serve } from './fixtures/server.js';

// Compile-time (tsconfig.test.json): codes built from other closed sets stay inside this one.
const updateCodesAreRefusalCodes: `update_${UpdateRefusalCode}` extends RefusalCode ? true : false = true;
const dropReasonsAreRefusalCodes: DropReason extends RefusalCode ? true : false = true;

const src = new URL('../src/', import.meta.url);

/** Every server source file (the browser client has no refusals of ours), as text. */
async function serverSources(): Promise<{ file: string; code: string }[]> {
  const out: { file: string; code: string }[] = [];
  for (const entry of await readdir(src, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const path = `${entry.parentPath ?? entry.path}/${entry.name}`;
    const file = path.slice(new URL(src).pathname.length);
    if (file.startsWith('client/')) continue;
    out.push({ file, code: await readFile(path, 'utf8') });
  }
  return out;
}

t.test('the closed set: unique snake_case codes', async (t) => {
  t.ok(updateCodesAreRefusalCodes && dropReasonsAreRefusalCodes);
  t.equal(new Set(REFUSAL_CODES).size, REFUSAL_CODES.length, 'no code twice');
  t.same(REFUSAL_CODES.filter((code) => !/^[a-z0-9]+(?:_[a-z0-9]+)*$/.test(code)), [], 'every code is a snake_case label');
  t.ok(isRefusalCode('spoofing'));
  t.notOk(isRefusalCode('spoofing: not its own announcement topic'), 'words are not a code');
});

t.test('every code a refusal is made with is in the closed set, and every code is made somewhere', async (t) => {
  const sources = await serverSources();
  t.ok(sources.length > 50, `read ${sources.length} files`);
  // The list itself, and the metrics, whose local `refused('connections')` names a counter.
  const makers = sources.filter(({ file }) => file !== 'log/refusals.ts' && file !== 'http/metrics.ts');
  // The ways a refusal code is written at its source: refusal('x', ...), refused('x', ...),
  // ctx.refused('kind', 'x'), onRefused?.('x'), and the code field of a log line.
  const patterns = [
    /(?<![.\w])refus(?:al|ed)\('([^']+)'/g,
    /\.refused\('(?:connection|publish|subscribe)', '([^']+)'\)/g,
    /onRefused\?\.\('([^']+)'\)/g,
    /\.warn\([^;]*?\bcode: '([^']+)'/g,
  ];
  const made = new Map<string, string>();
  for (const { file, code } of makers) {
    for (const pattern of patterns) for (const m of code.matchAll(pattern)) made.set(m[1]!, file);
  }
  t.ok(made.size > 30, `found ${made.size} codes at their sources`);
  t.same([...made].filter(([code]) => !isRefusalCode(code)), [], 'no code outside the closed set');
  // Codes built by a template from a closed type: `update_<UpdateRefusalCode>` (checked above at
  // compile time) and the login throttle's scope.
  const templated = (code: string) => code.startsWith('update_') || code.startsWith('too_many_failed_logins_for_this_');
  const everywhere = makers.map(({ code }) => code).join('\n');
  t.same(
    REFUSAL_CODES.filter((code) => !templated(code) && !everywhere.includes(`'${code}'`)),
    [],
    'every code in the set is used (a dead code is a metric label nothing can move)',
  );
});

t.test('no code turns words back into a label', async (t) => {
  for (const { file, code } of await serverSources()) {
    t.notMatch(code, /reason\.split\(':'\)|metricLabel\(|refusalLabel\(/, `${file}: no reason parsing`);
    t.notMatch(code, /\.replace\(\/\[\^a-z0-9\]\+\/g, '_'\)/, `${file}: no snake-casing of words`);
  }
});

t.test('the metric label is the code, whatever the code', async (t) => {
  const metrics = new PresenceMetrics(async () => ({ connections: 0, users: 0, onlineUsers: 0, groups: 0, memberships: 0 }), { defaultMetrics: false });
  for (const code of REFUSAL_CODES) metrics.refused('publish', code);
  const text = await metrics.registry.metrics();
  t.same(
    REFUSAL_CODES.filter((code) => sample(text, 'presence_refused_publishes_total', { reason: code }) !== 1),
    [],
    'one series per code, labelled with the code itself',
  );
});

/** Refuses every CONNECT, in the words and with the CONNACK code the password says. */
const wordy: Authenticator = {
  name: 'wordy',
  claims: () => true,
  async authenticate({ password }: Credentials) {
    const [code, reason] = String(password).split('|') as [string, string];
    return { ok: false, code: Number(code) as 4 | 5, reason };
  },
};

t.test('rewording a refusal changes no label: an authenticator\'s words are the detail, its CONNACK code names the refusal', async (t) => {
  const { mqttUrl, httpUrl, logs } = await serve(t, {}, { authenticators: [wordy] });
  const attempts: [string, number][] = [
    ['4|bad user name or password', 4],
    ['4|no such account in the ledger: try again', 4],
    ['5|locked by an administrator', 5],
  ];
  for (const [password, code] of attempts) {
    t.equal(await refusedCode(mqttUrl, { clientId: `c${code}-${attempts.findIndex(([p]) => p === password)}`, username: 'alice', password }), code);
  }
  const text = await scrape(httpUrl);
  t.equal(sample(text, 'presence_refused_connections_total', { reason: 'bad_user_name_or_password' }), 2, 'two wordings, one label');
  t.equal(sample(text, 'presence_refused_connections_total', { reason: 'not_authorized' }), 1);
  t.notMatch(text, /ledger|locked|administrator/, 'no words became a label');
  const lines = logs.filter((l) => l.msg === 'connection refused');
  t.same(
    lines.map((l) => [l.code, l.reason, l.returnCode]),
    [
      ['bad_user_name_or_password', 'bad user name or password', 4],
      ['bad_user_name_or_password', 'no such account in the ledger: try again', 4],
      ['not_authorized', 'locked by an administrator', 5],
    ],
    'the log prints the code beside the words',
  );
});

t.test('every refusal label the server counts is a code, and its log line says the same code', async (t) => {
  const { mqttUrl, httpUrl, logs } = await serve(t, { maxUserIdsPerSubscribe: 1 });
  t.equal(await refusedCode(mqttUrl, { clientId: 'bad+id' }), 2);
  t.equal(await refusedCode(mqttUrl, { clientId: 'ok-1', username: '$bad' }), 4);
  const mallory = await client(t, mqttUrl, { clientId: 'mallory' });
  await mallory.publishAsync('presence/conn/alice/x', '{"action":"online"}', { qos: 1 });
  await mallory.publishAsync('presence/conn/mallory/mallory', 'not json', { qos: 1 });
  await mallory.publishAsync('presence/member/g/mallory', '{"action":"dance"}', { qos: 1 });
  await mallory.publishAsync('$SYS/fake', 'x', { qos: 1 });
  t.same(await subscribe(mallory, ['presence/conn/#', 'presence/reply/someone-else']), [128, 128]);
  t.same(await subscribe(mallory, ['presence/user/a', 'presence/user/b']), [128, 128]);
  const text = await scrape(httpUrl);
  const labels = [...text.matchAll(/^presence_refused_\w+_total\{reason="([^"]+)"\} (\d+)$/gm)].filter((m) => m[2] !== '0').map((m) => m[1]!);
  t.same(new Set(labels), new Set(['invalid_client_id', 'invalid_user_id', 'spoofing', 'invalid_announcement', 'invalid_membership', 'reserved_topic', 'private_topic', 'not_its_own_reply_topic', 'too_many_user_ids']));
  const logged = logs.filter((l) => / refused$/.test(l.msg));
  t.ok(logged.length >= labels.length, `${logged.length} refusal lines`);
  t.same(logged.filter((l) => !isRefusalCode(String(l.code)) || !labels.includes(String(l.code))), [], 'each line carries a counted code');
  t.same(logged.filter((l) => typeof l.reason !== 'string' || l.reason === l.code), [], 'and the words beside it');
});

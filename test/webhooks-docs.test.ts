import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { Feed } from './fixtures/feed.js';
import { client, subscribe } from './fixtures/mqtt.js';
import { waitFor } from './fixtures/raw-sessions.js';
import { TestReceiver } from './fixtures/receiver.js';
import { serve } from './fixtures/server.js';

const SECRET = 'docs-example-secret';

/** The receiver example of docs/webhooks.md, as printed there. */
function documentedReceiver(): string {
  const doc = readFileSync(new URL('../docs/webhooks.md', import.meta.url), 'utf8');
  const after = doc.slice(doc.indexOf('A complete receiver in Node'));
  const code = /```js\n([\s\S]*?)```/.exec(after)?.[1];
  if (!code) throw new Error('docs/webhooks.md has no receiver example');
  return code;
}

t.test('the documented Node receiver verifies real deliveries and refuses forged and replayed ones', async (t) => {
  const code = documentedReceiver();
  t.ok(code.split('\n').filter(Boolean).length <= 12, 'about ten lines');
  const dir = t.testdir({ 'receiver.mjs': code });
  const { port } = await TestReceiver.start(t, { down: true }); // a free port
  const child = spawn(process.execPath, [`${dir}/receiver.mjs`], {
    env: { ...process.env, PORT: String(port), PRESENCE_WEBHOOK_SECRET: SECRET },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  const printed = new Feed<string>();
  let buffered = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) printed.push(line.trim());
  });
  const url = `http://127.0.0.1:${port}/`;
  const post = (body: string, timestamp: number, secret = SECRET) =>
    fetch(url, {
      method: 'POST',
      body,
      headers: {
        'x-presence-timestamp': String(timestamp),
        'x-presence-signature': `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`,
      },
    }).then((res) => res.status);
  await waitFor(async () => (await post('{}', 0).catch(() => 0)) === 401, 'the example to listen');

  const { mqttUrl } = await serve(t, { webhooks: [{ url, secret: SECRET }] });
  const alice = await client(t, mqttUrl, { clientId: 'alice-1', username: 'alice' });
  await subscribe(alice, 'group/lobby');
  t.equal(await printed.next('alice online'), 'user online alice');
  t.equal(await printed.next('alice joins'), 'group join alice lobby');

  const body = JSON.stringify({ id: 'forged-1', events: [{ type: 'user', action: 'online', id: 'mallory' }] });
  t.equal(await post(body, Date.now(), 'wrong-secret'), 401, 'a wrong secret is refused');
  t.equal(await post(body, Date.now() - 10 * 60_000), 401, 'a replay past the tolerance is refused');
  t.equal(await post(body, Date.now()), 204, 'a valid one is accepted');
  t.equal(await post(body, Date.now()), 204, 'a repeat is acknowledged');
  const next = JSON.stringify({ id: 'forged-2', events: [{ type: 'user', action: 'offline', id: 'mallory' }] });
  t.equal(await post(next, Date.now()), 204);
  t.equal(await printed.next('the valid batch'), 'user online mallory');
  t.equal(await printed.next('the batch after the repeat'), 'user offline mallory', 'the repeat was not processed again');
});

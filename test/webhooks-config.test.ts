import t from 'tap';
import { resolveAttachConfig } from '../src/attach/config.js';
import { configLayers, SHARED_FLAGS } from '../src/cli/flags.js';
import { ConfigError, resolveServeConfig } from '../src/config.js';
import { client } from './fixtures/mqtt.js';
import { runCli } from './fixtures/process.js';
import { signatureProblem, TestReceiver } from './fixtures/receiver.js';
import { serve } from './fixtures/server.js';

t.test('webhook configuration is checked, the same way in both modes', async (t) => {
  const good = { webhooks: [{ url: 'https://hooks.example.com/presence', secretFile: '/run/secret', events: ['online', 'offline', 'update'] }], webhook: ['http://127.0.0.1:9000/'] };
  for (const resolve of [resolveServeConfig, (layer: unknown) => resolveAttachConfig({ broker: 'mqtt://x' }, layer)]) {
    t.match(resolve(good), { ...good, webhookMaxQueue: 10_000, webhookRetryForMs: 3_600_000, webhookMaxBackoffMs: 60_000, webhookTimeoutMs: 5000 });
    for (const [layer, message] of [
      [{ webhooks: [{ url: 'ftp://x' }] }, /\/webhooks\/0\/url must match pattern/],
      [{ webhooks: [{ url: 'http://x', colour: 'red' }] }, /must NOT have additional properties 'colour'/],
      [{ webhooks: [{ secret: 'abc' }] }, /must have required property 'url'/],
      [{ webhooks: [{ url: 'http://x', events: [] }] }, /events must NOT have fewer than 1 items/],
      [{ webhooks: [{ url: 'http://x', events: ['online', 'online'] }] }, /must NOT have duplicate items/],
      [{ webhooks: [{ url: 'http://x', secret: 's', secretFile: '/f' }] }, /give secret or secretFile, not both/],
      [{ webhook: 'http://x' }, /\/webhook must be array/],
      [{ webhook: ['http://[::1'] }, /is not a valid URL/],
      [{ webhookMaxQueue: 150 }, /webhookMaxQueue must be >= 200/],
      [{ webhookMaxBackoffMs: 120_000 }, /webhookMaxBackoffMs must be <= 60000/],
      [{ webhookBackoffMs: 5000, webhookMaxBackoffMs: 1000 }, /webhookBackoffMs must not exceed webhookMaxBackoffMs/],
    ] as const) {
      t.throws(() => resolve(layer), { constructor: ConfigError, message }, JSON.stringify(layer));
    }
  }
});

t.test('--webhook may be repeated; each gives one receiver', async (t) => {
  const [, flags] = configLayers(['--webhook', 'http://a/', '--webhook', 'http://b/', '--webhook-secret-file', '/s', '--webhook-max-queue', '500'], SHARED_FLAGS);
  t.same(flags, { webhook: ['http://a/', 'http://b/'], webhookSecretFile: '/s', webhookMaxQueue: 500 });
  t.same(configLayers(['--webhook', 'http://a/'], SHARED_FLAGS)[1], { webhook: ['http://a/'] });
  t.same(configLayers([], SHARED_FLAGS)[1], {}, 'no flag, no key: the config file\'s receivers stay');
});

t.test('a secret file that cannot be read, or is empty, stops the start with a clear error', async (t) => {
  const dir = t.testdir({ empty: '\n' });
  await t.rejects(serve(t, { webhook: ['http://127.0.0.1:9/'], webhookSecretFile: `${dir}/missing` }), {
    constructor: ConfigError,
    message: /cannot read webhook secret file .*missing/,
  });
  await t.rejects(serve(t, { webhooks: [{ url: 'http://127.0.0.1:9/', secretFile: `${dir}/empty` }] }), { constructor: ConfigError, message: /webhook secret file .*empty is empty/ });
});

t.test('the CLI: --webhook twice with --webhook-secret-file; SIGTERM delivers the shutdown offlines', async (t) => {
  const first = await TestReceiver.start(t);
  const second = await TestReceiver.start(t);
  const dir = t.testdir({ secret: 'cli-secret\n' });
  const cli = runCli(t, ['serve', '--mqtt-port', '0', '--http-port', '0', '--webhook', first.url, '--webhook', second.url, '--webhook-secret-file', `${dir}/secret`]);
  const listening = await cli.line((l) => l.msg === 'listening', 'listening');
  await client(t, `mqtt://127.0.0.1:${String(listening.mqttPort)}`, { clientId: 'alice-1', username: 'alice' });
  for (const receiver of [first, second]) t.match(await receiver.events.next('alice online'), { type: 'user', action: 'online', id: 'alice' });
  cli.child.kill('SIGTERM');
  t.equal(await cli.exited, 0);
  for (const receiver of [first, second]) {
    t.match(receiver.events.all.at(-1), { type: 'user', action: 'offline', id: 'alice', reason: 'server_shutdown' }, 'delivered before the process exited');
    for (const attempt of receiver.tries.all) t.equal(signatureProblem('cli-secret', attempt), undefined);
  }
  t.same(
    cli.lines.filter((l) => l.msg === 'webhook receiver configured').map((l) => [l.receiver, l.signed]),
    [[0, true], [1, true]],
  );

  const bad = runCli(t, ['serve', '--webhook', 'not a url']);
  t.equal(await bad.exited, 2);
  t.match(bad.stderr.join('\n'), /\/webhook\/0 must match pattern/);
});

import t from 'tap';
import { resolveAttachConfig } from '../src/attach/config.js';
import { startAttach } from '../src/attach/start.js';
import { createLogger } from '../src/log/logger.js';
import { mosquitto } from './fixtures/mosquitto.js';
import { once } from './fixtures/mqtt.js';
import { waitFor } from './fixtures/raw-sessions.js';
import { Feed } from './fixtures/feed.js';
import type { LogRecord } from './fixtures/server.js';

t.test('a refused login is retried until the broker accepts it: healthy again by itself, each state logged once', async (t) => {
  const broker = await mosquitto(t);
  if (!broker) return;
  const logs = new Feed<LogRecord>();
  const config = resolveAttachConfig({ broker: broker.url, username: 'bridge', password: 'not-yet', httpPort: 0, reconnectMs: 50, logLevel: 'debug' });
  const running = await startAttach(config, createLogger('debug', (line) => logs.push(JSON.parse(line) as LogRecord)));
  t.teardown(() => running.close());
  const health = async () => (await fetch(`http://127.0.0.1:${running.httpPort}/healthz`)).status;

  // Several refusals in a row, each a CONNACK 5 (not authorized) in Mosquitto's log.
  const refusals = () => broker.stderr().match(/Client \S+ disconnected, not authori[sz]ed/g)?.length ?? 0;
  await waitFor(() => refusals() >= 3, 'the bridge to try again after a refused login');
  t.equal(await health(), 503, 'unhealthy while refused');

  const synced = once(running.bridge, 'synced', 'the bridge to log in once the broker accepts it');
  await broker.setPassword('bridge', 'not-yet');
  await synced;
  t.equal(await health(), 200, 'healthy again without a restart');

  const refusedLogs = logs.all.filter((r) => /refused/.test(String(r.msg)));
  t.equal(refusedLogs.length, 1, 'the refusal is logged once, not once per attempt');
  t.match(refusedLogs[0], { level: 'warn', code: 5 });
  t.equal(logs.all.filter((r) => r.msg === 'connected to the broker; resyncing').length, 1);
});

t.test('the retry delay backs off, up to a ceiling, and starts over after a success', async (t) => {
  const { Backoff } = await import('../src/attach/link.js');
  const backoff = new Backoff(100, 1000);
  t.same([backoff.next(), backoff.next(), backoff.next(), backoff.next(), backoff.next()], [100, 200, 400, 800, 1000]);
  backoff.reset();
  t.equal(backoff.next(), 100);
});

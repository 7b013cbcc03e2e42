import { spawnSync } from 'node:child_process';
import { CLI } from './fixtures/process.js';
import { resolve } from 'node:path';
import t from 'tap';
import { resolveAttachConfig } from '../src/attach/config.js';
import { ConfigError } from '../src/config.js';
import { startAttach } from '../src/attach/start.js';
import { silentLogger } from '../src/log/logger.js';
import { createServer, type AddressInfo } from 'node:net';

t.test('attach config: defaults, layers, and clear refusals', async (t) => {
  const config = resolveAttachConfig({ broker: 'mqtt://127.0.0.1:1883', httpPort: 9000 }, { graceMs: 500 });
  t.match(config, { broker: 'mqtt://127.0.0.1:1883', httpPort: 9000, graceMs: 500, bridgeId: 'presence-bridge', prefix: 'presence', host: '127.0.0.1' });
  t.match(config, { maxQueryIds: 200, maxPageSize: 1000, defaultPageSize: 100, maxQueryBytes: 65536 }, 'the query limits are serve mode\'s');
  t.equal(config.apiToken, undefined, 'the API is open unless a token is given');
  t.match(config, { takeoverWindowMs: 500, rebirthWindowMs: 30_000 }, 'takeovers need no --grace; a crash restores no ghost for good');
  const refusals: [unknown[], RegExp][] = [
    [[{}], /--broker URL is required/],
    [[{ broker: 'http://x' }], /\/broker must match pattern/],
    [[{ broker: 'mqtt://x', password: 'p' }], /a password needs a username/],
    [[{ broker: 'mqtt://x', bridgeId: 'a/b' }], /bridgeId must be a valid id/],
    [[{ broker: 'mqtt://x', brokr: 'typo' }], /must NOT have additional properties 'brokr'/],
    [[{ broker: 'mqtt://x', httpPort: 70000 }], /\/httpPort must be <= 65535/],
    [[{ broker: 'mqtt://x', prefix: 'p', groupPrefix: 'p/g' }], /groupPrefix must lie outside prefix/],
    [['not an object'], /must be object/],
    [[{ broker: 'mqtt://x', maxPageSize: 10, defaultPageSize: 20 }], /defaultPageSize must not exceed maxPageSize/],
    [[{ broker: 'mqtt://x', apiToken: 'two words' }], /apiToken must match pattern/],
    [[{ broker: 'mqtt://x', maxQueryIds: 0 }], /maxQueryIds must be >= 1/],
    [[{ broker: 'mqtt://x', takeoverWindowMs: -1 }], /takeoverWindowMs must be >= 0/],
    [[{ broker: 'mqtt://x', rebirthWindowMs: 0 }], /rebirthWindowMs must be >= 1/],
  ];
  for (const [layers, message] of refusals) {
    t.throws(() => resolveAttachConfig(...layers), { constructor: ConfigError, message }, String(message));
  }
});

t.test('the attach command refuses bad input with exit code 2 and says why', async (t) => {
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [CLI, 'attach', ...args], { encoding: 'utf8' });
  const missing = run();
  t.equal(missing.status, 2);
  t.match(missing.stderr, /--broker URL is required/);
  const badPort = run('--broker', 'mqtt://127.0.0.1:1', '--http-port', 'eighty');
  t.equal(badPort.status, 2);
  t.match(badPort.stderr, /--http-port takes a whole number/);
  const unknown = run('--broker', 'mqtt://127.0.0.1:1', '--frobnicate');
  t.equal(unknown.status, 2);
  t.match(unknown.stderr, /frobnicate/);
});

t.test('a broker that is down at start is not an error: unhealthy until it is reachable, and it stops cleanly', async (t) => {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const running = await startAttach(resolveAttachConfig({ broker: `mqtt://127.0.0.1:${port}`, httpPort: 0, reconnectMs: 50 }), silentLogger);
  const health = await fetch(`http://127.0.0.1:${running.httpPort}/healthz`);
  t.equal(health.status, 503);
  t.match(await health.json(), { mode: 'attach', broker: 'disconnected', synced: false });
  const ws = await fetch(`http://127.0.0.1:${running.httpPort}/nope`);
  t.equal(ws.status, 404);
  await running.close();
  t.pass('closed');
});

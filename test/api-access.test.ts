import t, { type Test } from 'tap';
import { DEFAULT_ATTACH_CONFIG, resolveAttachConfig, type AttachConfig } from '../src/attach/config.js';
import { startAttach } from '../src/attach/start.js';
import { DEFAULT_SERVE_CONFIG } from '../src/config.js';
import { createLogger } from '../src/log/logger.js';
import { serve, type LogRecord } from './fixtures/server.js';

/** The bridge, with its HTTP listener, beside a broker that is not there (it keeps retrying). */
async function attachOn(t: Test, overrides: Partial<AttachConfig>): Promise<{ url: string; logs: LogRecord[] }> {
  const logs: LogRecord[] = [];
  const config = resolveAttachConfig({ broker: 'mqtt://127.0.0.1:1', httpPort: 0, reconnectMs: 60_000, ...overrides });
  const running = await startAttach(config, createLogger('info', (line) => logs.push(JSON.parse(line) as LogRecord)));
  t.teardown(() => running.close());
  return { url: `http://127.0.0.1:${running.httpPort}`, logs };
}

const get = (url: string, token?: string) => fetch(`${url}/v1/users/alice`, token ? { headers: { authorization: `Bearer ${token}` } } : {});

t.test('attach: /v1 beyond loopback needs --api-token or --api-open, and the log says which', async (t) => {
  const open = await attachOn(t, { host: '0.0.0.0' });
  const refused = await get(open.url);
  t.equal(refused.status, 403, 'no token beyond loopback: closed');
  t.match(((await refused.json()) as { error: { content: string } }).error.content, /beyond loopback.*--api-token.*--api-open/);
  t.match(open.logs.find((l) => l.msg === 'listening'), { mode: 'attach', host: '0.0.0.0', api: 'closed' });
  t.ok(open.logs.some((l) => l.level === 'warn' && /\/v1\) is closed/.test(l.msg)), 'warned');

  const token = await attachOn(t, { host: '0.0.0.0', apiToken: 'backend-token' });
  t.equal((await get(token.url)).status, 401, 'token configured: none given');
  t.equal((await get(token.url, 'backend-token')).status, 404, 'the token answers (alice unknown)');
  t.match(token.logs.find((l) => l.msg === 'listening'), { api: 'bearer token' });

  const explicit = await attachOn(t, { host: '0.0.0.0', apiOpen: true });
  t.equal((await get(explicit.url)).status, 404, '--api-open answers anyone');
  t.match(explicit.logs.find((l) => l.msg === 'listening'), { api: 'open' });
  t.ok(explicit.logs.some((l) => l.level === 'warn' && /HTTP API OPEN/.test(l.msg)), 'said loudly');

  const loopback = await attachOn(t, {});
  t.equal((await get(loopback.url)).status, 404, 'loopback: open without a token');
  t.match(loopback.logs.find((l) => l.msg === 'listening'), { api: 'open' });
});

t.test('serve: the same loopback rule for /v1 with anonymous clients allowed', async (t) => {
  const anonymous = await serve(t, { host: '0.0.0.0', allowAnonymous: true });
  t.equal((await get(anonymous.httpUrl)).status, 403);
  t.match(anonymous.logs.find((l) => l.msg === 'listening'), { api: 'closed' });
  const open = await serve(t, { host: '0.0.0.0', allowAnonymous: true, apiOpen: true });
  t.equal((await get(open.httpUrl)).status, 404);
  const local = await serve(t, {});
  t.equal((await get(local.httpUrl)).status, 404);
});

t.test('--api-open and --api-token together are a configuration error', async (t) => {
  t.throws(() => resolveAttachConfig({ broker: 'mqtt://x:1', apiOpen: true, apiToken: 't' }), { message: /contradict/ });
});

t.test('attach and serve default to different HTTP ports, so both run side by side', async (t) => {
  t.equal(DEFAULT_SERVE_CONFIG.httpPort, 8080);
  t.equal(DEFAULT_ATTACH_CONFIG.httpPort, 8081);
});

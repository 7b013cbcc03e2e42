import t from 'tap';
import { client, subscribe, watcher } from './fixtures/mqtt.js';
import { runCli } from './fixtures/process.js';

t.test('serve on port 0 logs its ports; TCP and WebSocket clients are tracked; SIGTERM ends everyone with server_shutdown', async (t) => {
  const cli = runCli(t, ['serve', '--mqtt-port', '0', '--http-port', '0', '--grace', '0']);
  const listening = await cli.line((l) => l.msg === 'listening', 'listening');
  t.match(listening, { level: 'info', mode: 'serve', host: '127.0.0.1', mqttPort: Number, httpPort: Number });
  const mqttUrl = `mqtt://127.0.0.1:${listening.mqttPort}`;
  const wsUrl = `ws://127.0.0.1:${listening.httpPort}/mqtt`;

  const health = await fetch(`http://127.0.0.1:${listening.httpPort}/healthz`);
  t.equal(health.status, 200);

  const watch = await watcher(t, mqttUrl);
  const browser = await client(t, wsUrl, { clientId: 'tab-1', username: 'alice' });
  await subscribe(browser, 'group/web');
  t.match((await watch.next('alice online over WebSocket')).json, { action: 'online', id: 'alice' });
  t.match((await watch.next('alice joins')).json, { action: 'join', groupId: 'web', groupOnlineCount: 1 });

  cli.child.kill('SIGTERM');
  const offline = await watch.find((m) => m.json.id === 'alice', 'alice offline at shutdown');
  t.match(offline.json, { action: 'offline', reason: 'server_shutdown' });
  const groupOffline = await watch.find((m) => m.topic === 'presence/group/web', 'group offline at shutdown');
  t.match(groupOffline.json, { action: 'offline', id: 'alice', groupOnlineCount: 0, reason: 'server_shutdown' });
  t.equal(await cli.exited, 0, 'exits cleanly');
  t.ok(cli.lines.some((l) => l.msg === 'stopped'));
});

t.test('bad flags and values exit 2 with a clear message', async (t) => {
  const badPort = runCli(t, ['serve', '--mqtt-port', 'abc']);
  t.equal(await badPort.exited, 2);
  t.match(badPort.stderr.join('\n'), /--mqtt-port takes a whole number/);
  const unknown = runCli(t, ['serve', '--bogus']);
  t.equal(await unknown.exited, 2);
  t.match(unknown.stderr.join('\n'), /bogus/);
  const command = runCli(t, ['frobnicate']);
  t.equal(await command.exited, 2);
  t.match(command.stderr.join('\n'), /unknown command 'frobnicate'/);
});

t.test('bound beyond loopback it refuses to start without authentication or --allow-anonymous', async (t) => {
  const refused = runCli(t, ['serve', '--host', '0.0.0.0', '--mqtt-port', '0', '--http-port', '0']);
  t.equal(await refused.exited, 2);
  t.match(refused.stderr.join('\n'), /refusing to listen on 0\.0\.0\.0 with anonymous clients/);
  const allowed = runCli(t, ['serve', '--host', '0.0.0.0', '--mqtt-port', '0', '--http-port', '0', '--allow-anonymous']);
  await allowed.line((l) => l.msg === 'listening', 'listening');
  const warning = await allowed.line((l) => /ANONYMOUS CLIENTS ALLOWED/.test(String(l.msg)), 'anonymous warning');
  t.equal(warning.level, 'warn', 'said loudly');
  allowed.child.kill('SIGTERM');
  t.equal(await allowed.exited, 0);
});

t.test('a config file is validated with a clear error', async (t) => {
  const dir = t.testdir({ 'bad.json': JSON.stringify({ mqttPort: 'x' }), 'unknown.json': JSON.stringify({ colour: 'red' }), 'good.json': JSON.stringify({ mqttPort: 0, httpPort: 0, graceMs: 250 }) });
  const bad = runCli(t, ['serve', '--config', `${dir}/bad.json`]);
  t.equal(await bad.exited, 2);
  t.match(bad.stderr.join('\n'), /invalid configuration: \/mqttPort must be integer/);
  const unknown = runCli(t, ['serve', '--config', `${dir}/unknown.json`]);
  t.equal(await unknown.exited, 2);
  t.match(unknown.stderr.join('\n'), /must NOT have additional properties 'colour'/);
  const good = runCli(t, ['serve', '--config', `${dir}/good.json`]);
  t.match(await good.line((l) => l.msg === 'listening', 'listening'), { graceMs: 250 });
  good.child.kill('SIGINT');
  t.equal(await good.exited, 0);
});

import { createServer, type Server } from 'node:net';
import t, { type Test } from 'tap';
import { runCli, type CliProcess } from './fixtures/process.js';

/** A port some other process holds for the test's lifetime. */
async function takenPort(t: { teardown(fn: () => void): void }): Promise<number> {
  const holder: Server = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  t.teardown(() => holder.close());
  return (holder.address() as { port: number }).port;
}

/** What a failed start printed: exactly one line on stderr, no stack frames, nothing on stdout. */
async function failure(t: Test, cli: CliProcess, status: number): Promise<string> {
  t.equal(await cli.exited, status, `exit status ${status}`);
  await new Promise((resolve) => setImmediate(resolve));
  const lines = cli.stderr.filter((l) => l.trim() !== '');
  t.equal(lines.length, 1, `one line on stderr: ${JSON.stringify(lines)}`);
  t.notMatch(lines.join('\n'), /^\s+at /m, 'no stack trace');
  return lines[0] ?? '';
}

t.test('a bad flag is one line naming it and the nearest flag, exit 2', async (t) => {
  const typo = await failure(t, runCli(t, ['serve', '--htp-port', '0']), 2);
  t.match(typo, /unknown option '--htp-port' \(did you mean --http-port\?\); see presence-bridge serve --help/);
  const attach = await failure(t, runCli(t, ['attach', '--brokr', 'mqtt://x']), 2);
  t.match(attach, /did you mean --broker\?/);
  const missing = await failure(t, runCli(t, ['serve', '--mqtt-port']), 2);
  t.match(missing, /--mqtt-port needs a value/);
  const watch = await failure(t, runCli(t, ['watch', '--url', 'mqtt://127.0.0.1:1', '--users', 'a', '--bogus']), 2);
  t.match(watch, /presence-bridge watch: unknown option '--bogus'/);
  const command = await failure(t, runCli(t, ['frobnicate']), 2);
  t.match(command, /unknown command 'frobnicate' \(commands: serve, attach, watch, passwd, token\); see presence-bridge --help/);
});

t.test('a port in use is one line naming the port and the flag that changes it, exit 1', async (t) => {
  const port = await takenPort(t);
  const http = await failure(t, runCli(t, ['serve', '--mqtt-port', '0', '--http-port', String(port)]), 1);
  t.match(http, new RegExp(`cannot listen for HTTP on 127\\.0\\.0\\.1:${port}: the port is already in use \\(EADDRINUSE\\).*--http-port`));
  const mqtt = await failure(t, runCli(t, ['serve', '--mqtt-port', String(port), '--http-port', '0']), 1);
  t.match(mqtt, /cannot listen for MQTT .*--mqtt-port N/);
  const attach = await failure(t, runCli(t, ['attach', '--broker', 'mqtt://127.0.0.1:1', '--http-port', String(port)]), 1);
  t.match(attach, /presence-bridge attach: cannot listen for HTTP .*EADDRINUSE.*--http-port/);
});

t.test('--log-level debug adds the stack trace of a failed start', async (t) => {
  const port = await takenPort(t);
  const cli = runCli(t, ['serve', '--mqtt-port', '0', '--http-port', String(port), '--log-level', 'debug']);
  t.equal(await cli.exited, 1);
  t.match(cli.stderr[0], /EADDRINUSE/);
  t.match(cli.stderr.join('\n'), /^\s+at /m, 'the stack follows');
});

import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { client, refusedCode } from './fixtures/mqtt.js';
import { CLI } from './fixtures/process.js';
import { serve } from './fixtures/server.js';

/** The built CLI to its end, with `stdin` written to it. */
function run(args: string[], stdin = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin.end(stdin);
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

t.test('passwd says created when it created the file, added or updated after that', async (t) => {
  const path = join(t.testdir(), 'users.json');
  const first = await run(['passwd', '--file', path, 'alice'], 'a-secret\n');
  t.equal(first.code, 0, first.stderr);
  t.equal(first.stderr, `created ${path} with 'alice'\n`);
  t.ok(existsSync(path));
  const second = await run(['passwd', '--file', path, 'bob'], 'b-secret\n');
  t.equal(second.stderr, `added 'bob' in ${path}\n`);
  const third = await run(['passwd', '--file', path, 'alice'], 'a-secret-2\n');
  t.equal(third.stderr, `updated 'alice' in ${path}\n`);
  const removed = await run(['passwd', '--file', path, '--delete', 'bob']);
  t.equal(removed.stderr, `removed 'bob' in ${path}\n`);
});

t.test('token makes a test token the server accepts, reading the secret file as serve does (trimmed)', async (t) => {
  const dir = t.testdir();
  const secretFile = join(dir, 'secret.txt');
  writeFileSync(secretFile, 'x'.repeat(32) + '\n'); // as `echo` writes it: the newline is not part of the secret
  const { mqttUrl } = await serve(t, { jwtSecretFile: secretFile });
  const made = await run(['token', '--jwt-secret-file', secretFile, '--data', '{"name":"Alice"}', 'alice']);
  t.equal(made.code, 0, made.stderr);
  const token = made.stdout.trim();
  t.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  await client(t, mqttUrl, { clientId: 'alice-1', username: 'alice', password: token });
  t.equal(await refusedCode(mqttUrl, { clientId: 'bob-1', username: 'bob', password: token }), 4, "alice's token is not bob's");

  const expired = await run(['token', '--jwt-secret-file', secretFile, '--expires-in', '0', 'alice']);
  t.equal(await refusedCode(mqttUrl, { clientId: 'alice-2', username: 'alice', password: expired.stdout.trim() }), 4, 'expired');

  writeFileSync(secretFile, 'y'.repeat(31) + '\n');
  const short = await run(['token', '--jwt-secret-file', secretFile, 'alice']);
  t.equal(short.code, 2);
  t.match(short.stderr, /is 31 bytes after trimming; the server needs at least 32/);
  const noUser = await run(['token', '--jwt-secret-file', secretFile]);
  t.match(noUser.stderr, /token takes exactly one user id/);
});

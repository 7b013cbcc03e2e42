import { spawn } from 'node:child_process';
import { CLI } from './fixtures/process.js';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import t from 'tap';
import { runPasswd } from '../src/cli/passwd.js';
import { hashPassword, parseHash, verifyPassword } from '../src/auth/password.js';
import { client, refusedCode } from './fixtures/mqtt.js';
import { serve } from './fixtures/server.js';

/** Runs the real CLI (from source, with the loader tap runs us under); resolves to exit code and stderr. */
function cli(args: string[], stdin: string): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(stdin);
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stderr })));
}

t.test('passwd writes a scrypt hash the server accepts, keeps other entries, and deletes', async (t) => {
  const dir = t.testdir();
  const path = join(dir, 'users.json');
  writeFileSync(path, JSON.stringify({ users: { bob: { data: { name: 'Bob' }, groups: ['g1'] } } }));

  const created = await cli(['passwd', '--file', path, 'alice'], 'alice-secret\n');
  t.equal(created.code, 0, created.stderr);
  await runPasswd(['--file', path, 'bob'], Readable.from(['bob-sec', 'ret\nignored']));
  const content = JSON.parse(readFileSync(path, 'utf8')) as { users: Record<string, { password: string; data?: unknown; groups?: unknown }> };
  t.match(content.users.alice!.password, /^scrypt\$32768\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/, 'self-describing scrypt format');
  t.notMatch(readFileSync(path, 'utf8'), /secret/, 'no plaintext in the file');
  t.same(content.users.bob!.data, { name: 'Bob' }, "bob's trusted data kept");
  t.same(content.users.bob!.groups, ['g1'], "bob's groups kept");
  t.equal(statSync(path).mode & 0o777, 0o600, 'written readable by the owner only');

  const { mqttUrl } = await serve(t, { usersFile: path });
  await client(t, mqttUrl, { clientId: 'a1', username: 'alice', password: 'alice-secret' });
  await client(t, mqttUrl, { clientId: 'b1', username: 'bob', password: 'bob-secret' });
  t.equal(await refusedCode(mqttUrl, { clientId: 'a2', username: 'alice', password: 'bob-secret' }), 4);

  await runPasswd(['--file', path, '--delete', 'alice'], Readable.from([]));
  t.notOk('alice' in (JSON.parse(readFileSync(path, 'utf8')) as { users: object }).users, 'alice removed');
});

t.test('passwd refuses what it must not write', async (t) => {
  const dir = t.testdir({ 'broken.json': '{"users": {"x": {"password": "plain"}}}' });
  const path = join(dir, 'users.json');
  const input = (text: string) => Readable.from([text]);
  await t.rejects(runPasswd(['--file', path, 'a/b'], input('pw\n')), /invalid user id/);
  await t.rejects(runPasswd(['--file', path, 'alice'], input('\n')), /empty password/);
  await t.rejects(runPasswd(['--file', join(dir, 'broken.json'), 'alice'], input('pw\n')), /not a scrypt hash/);
  t.equal(readFileSync(join(dir, 'broken.json'), 'utf8'), '{"users": {"x": {"password": "plain"}}}', 'a file it cannot read is left alone');
  await t.rejects(runPasswd(['alice'], input('pw\n')), /--file/);
  await t.rejects(runPasswd(['--file', path, '--delete', 'nobody'], input('')), /not in/);
  // Through the real CLI, a refusal is exit code 2 with the reason on stderr.
  const badId = await cli(['passwd', '--file', path, 'a/b'], 'pw\n');
  t.equal(badId.code, 2);
  t.match(badId.stderr, /invalid user id/);
});

t.test('hash format: verify, reject tampering and hostile parameters', async (t) => {
  const stored = await hashPassword('pw', { N: 1024, r: 8, p: 1 });
  const parsed = parseHash(stored)!;
  t.ok(await verifyPassword('pw', parsed));
  t.notOk(await verifyPassword('pw2', parsed));
  t.notOk(await verifyPassword(Buffer.from('pw'), { ...parsed, hash: Buffer.from(parsed.hash).fill(0) }));
  t.equal(parseHash('scrypt$4194304$8$1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA=='), undefined, 'N above 2^20 refused (memory bomb)');
  t.equal(parseHash('scrypt$1000$8$1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA=='), undefined, 'N not a power of two refused');
  t.equal(parseHash('plain'), undefined);
  t.equal(parseHash('$2b$10$abcdefghijklmnopqrstuv'), undefined, 'other formats are not mistaken for scrypt');
});

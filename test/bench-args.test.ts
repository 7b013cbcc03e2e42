import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
// @ts-expect-error -- a plain ES module of the bench, without types
import { parseBenchArgs, SCENARIOS } from '../bench/args.mjs';

const ROOT = join(import.meta.dirname, '..');
const PUBLISHED = ['docs/benchmarks.md', 'docs/benchmarks.jsonl', 'docs/benchmarks.svg'].map((f) => join(ROOT, f));
const mtimes = () => PUBLISHED.map((f) => statSync(f).mtimeMs);

/** `node bench/run.mjs ...` to its end. */
function bench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['bench/run.mjs', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

t.test('an unknown scenario is an error naming the valid ones, and the published results stay as they were', async (t) => {
  const before = mtimes();
  const started = Date.now();
  const { code, stdout, stderr } = await bench(['--only', 'nope']);
  t.equal(code, 2);
  t.equal(stdout, '', 'ran nothing');
  t.match(stderr, /unknown scenario 'nope': the scenarios are churn, latency, loss, memory, storm, attach/);
  t.same(mtimes(), before, 'docs/benchmarks.* untouched');
  t.ok(Date.now() - started < 60_000, 'did not build first');
  const typo = await bench(['--onyl', 'churn']);
  t.equal(typo.code, 2);
  t.match(typo.stderr, /--onyl/);
});

t.test('--help prints the usage at once', async (t) => {
  const { code, stdout } = await bench(['--help']);
  t.equal(code, 0);
  t.match(stdout, /^usage: npm run bench -- \[options\]/);
  for (const name of SCENARIOS as string[]) t.match(stdout, name);
});

t.test('only a full run publishes results', async (t) => {
  const env = {};
  t.equal(parseBenchArgs([], env).publish, true, 'every scenario, full sizes');
  t.equal(parseBenchArgs(['--only', 'churn'], env).publish, false, 'one scenario');
  t.equal(parseBenchArgs(['--only', (SCENARIOS as string[]).join(',')], env).publish, true, 'all of them named');
  t.equal(parseBenchArgs(['--smoke'], env).publish, false, 'smoke sizes');
  t.equal(parseBenchArgs(['--set', 'users=10'], env).publish, false, 'a size changed');
  t.equal(parseBenchArgs([], { BENCH_USERS: '10' }).publish, false, 'a size changed through the environment');
  t.equal(parseBenchArgs([], { BENCH_ONLY: 'loss' }).publish, false, 'BENCH_ONLY');
  t.equal(parseBenchArgs(['--no-docs'], env).publish, false, '--no-docs');
  t.throws(() => parseBenchArgs(['--only', 'churn,nope,zap'], env), { message: /unknown scenarios 'nope', 'zap'/ });
});

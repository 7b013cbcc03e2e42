import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { requireProgram } from '../fixtures/services.js';

const ROOT = join(import.meta.dirname, '..', '..');

/** The bench drives the built product (dist/), as users run it: rebuild when src/ is newer. */
function ensureBuilt(): void {
  const newest = (dir: string): number =>
    Math.max(0, ...readdirSync(dir, { withFileTypes: true }).map((e) => (e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs)));
  let built = 0;
  try {
    built = statSync(join(ROOT, 'dist/cli/main.js')).mtimeMs;
  } catch {
    built = 0;
  }
  if (built < newest(join(ROOT, 'src'))) execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: ROOT });
}

interface Row {
  scenario: string;
  metric: string;
  unit?: string;
  status?: string;
  product: number | null;
  anchor: number | null;
  expected?: number;
  anchorExpected?: number;
}

/** Runs bench/run.mjs at smoke sizes with extra flags; resolves to its rows. */
async function runBench(t: Test, flags: string[]): Promise<Row[]> {
  ensureBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'rows.jsonl');
  const child = spawn(process.execPath, ['bench/run.mjs', '--smoke', '--no-docs', `--out=${out}`, ...flags], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, BENCH_NO_BUILD: '1' } });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.equal(code, 0, `bench exited cleanly\n${stderr}`);
  return readFileSync(out, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Row);
}

t.test('the bench runs at smoke sizes, against the product and its anchor, and every event arrives', async (t) => {
  const rows = await runBench(t, []);

  t.same([...new Set(rows.map((r) => r.scenario))], ['churn', 'latency', 'loss', 'memory', 'storm'], 'every smoke scenario reported');
  t.same(rows.filter((r) => r.status?.startsWith('failed')), [], 'no scenario failed');
  for (const row of rows.filter((r) => r.expected !== undefined)) {
    t.ok(row.expected! > 0, `${row.scenario}: expects some events`);
    t.equal(row.product, row.expected, `${row.scenario}: ${row.metric}: all arrived from the product`);
  }
  for (const scenario of ['latency', 'loss', 'storm']) {
    const delivered = rows.find((r) => r.scenario === scenario && r.expected !== undefined)!;
    t.equal(delivered.anchor, delivered.expected, `${scenario}: the anchor's hand-made events all arrived too`);
  }
  for (const row of rows.filter((r) => r.unit === 'cycles/s' || r.unit === 'ms')) {
    t.type(row.product, 'number', `${row.scenario}: ${row.metric}: product measured`);
    t.type(row.anchor, 'number', `${row.scenario}: ${row.metric}: anchor measured`);
  }
});

t.test('the attach scenario runs Mosquitto alone and Mosquitto + the attach bridge, and every event arrives', async (t) => {
  if (!requireProgram(t, 'mosquitto', ['/usr/sbin/mosquitto'])) return;
  if (!requireProgram(t, 'mosquitto_passwd', ['/usr/bin/mosquitto_passwd'])) return;
  const rows = await runBench(t, ['--only=attach']);
  t.same([...new Set(rows.map((r) => r.scenario))], ['attach'], 'only the attach scenario ran');
  t.same(rows.filter((r) => r.status !== 'ok'), [], 'every attach row ran (attach mode is built, Mosquitto is here)');
  for (const metric of ['cycles per second', 'CONNACK + birth -> online at a watcher, p50', 'CONNACK + birth -> online at a watcher, p99']) {
    const row = rows.find((r) => r.metric.includes(metric));
    t.ok(row, `a row for ${metric}`);
    t.type(row?.product, 'number', `${metric}: Mosquitto + bridge measured`);
    t.type(row?.anchor, 'number', `${metric}: Mosquitto alone measured`);
  }
  const cycles = rows.find((r) => r.unit === 'cycles/s')!;
  t.ok(cycles.product! > 0 && cycles.anchor! > 0, 'both sides made progress');
  const delivered = rows.filter((r) => r.expected !== undefined);
  t.equal(delivered.length, 2, 'delivery rows for churn and latency');
  for (const row of delivered) {
    t.ok(row.expected! > 0, `${row.metric}: expects some events`);
    t.equal(row.product, row.expected, `${row.metric}: every online from the bridge arrived`);
    t.equal(row.anchor, row.anchorExpected, `${row.metric}: every hand-made birth arrived at the anchor's watcher`);
  }
  // what the bridge itself published, so a shortfall at the watcher can be told from one in the product
  const churn = delivered.find((r) => r.metric.startsWith('churn'))!;
  const side = (churn as { detail?: { published?: { online: number; offline: number }; onlineAtEnd?: number[] } }).detail;
  t.same(side?.published, { online: churn.expected, offline: churn.expected }, 'the bridge published one online and one offline per cycle');
  t.ok((side?.onlineAtEnd?.length ?? 0) > 0 && side!.onlineAtEnd!.every((n) => n === 0), 'nobody online once all left: no offline lost');
});

t.test('the cluster scenario runs memory, --redis, two nodes, bare aedes on both engines and a node death, and every event arrives', async (t) => {
  if (!requireProgram(t, 'redis-server', ['/usr/bin/redis-server'])) return;
  const rows = await runBench(t, ['--only=cluster']);
  t.same([...new Set(rows.map((r) => r.scenario))], ['cluster'], 'only the cluster scenario ran');
  t.same(rows.filter((r) => r.status !== undefined), [], 'no row skipped or failed (redis-server is here)');
  const row = (start: string) => rows.find((r) => r.metric.startsWith(start));
  for (const start of ['cycles per second, one node with --redis', 'node CPU per cycle, --redis', 'cycles per second, 2 nodes', 'cycles per second, bare aedes on its own Redis engines', 'CPU per cycle, bare aedes']) {
    t.ok(row(start)?.product! > 0 && row(start)?.anchor! > 0, `${start}: both sides measured`);
  }
  const commands = row('Redis commands per cycle')!;
  t.ok(commands.product! > commands.anchor! && commands.anchor! > 0, `Redis commands per cycle counted for the product (${commands.product}) and for bare aedes (${commands.anchor})`);
  t.equal((row('cycles per second, 2 nodes') as { pass?: boolean }).pass, true, 'two nodes: every online reached the watcher on the first node');
  const death = row('node death') as Row & { detail: { complete: boolean; offlines: number; reasons: Record<string, number> }; sizes: { users: number } };
  t.ok(death.detail.complete, 'node death: every user on the killed node went offline at the survivor');
  t.same({ offlines: death.detail.offlines, node_down: death.detail.reasons.node_down }, { offlines: death.sizes.users, node_down: death.sizes.users }, 'node death: once each, all node_down');
});


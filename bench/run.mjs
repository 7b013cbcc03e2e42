// `npm run bench`: runs each scenario against the product and its anchor in the same run, one broker
// process and one load-generator process at a time, and prints one JSON line per measured row.
// Then writes the table into docs/benchmarks.md and the plot into docs/benchmarks.svg.
//
// Sizes come from env (BENCH_*, see SIZES below) or flags (--users=10000 ...); --smoke uses tiny ones.
// --only=churn,latency,loss,memory,storm,attach picks scenarios (bench/args.mjs; --help for all);
// only a full run rewrites docs/; --no-docs leaves docs/ alone even then;
// --profile writes CPU profiles of the product process to bench/profiles/ (`node --cpu-prof`).
import { execFileSync, fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { BenchUsageError, parseBenchArgs, SCENARIOS as ALL, USAGE } from './args.mjs';
import { ROOT, attachAvailable, mosquittoPasswdPath, mosquittoPath, startAttach, startBareAedes, startMosquitto, startProduct } from './targets.mjs';
import { writeDocs } from './report.mjs';
import { productWithRedis, redisServerPath, startRedisServer, twoNodes } from './cluster.mjs';

let parsed;
try {
  parsed = parseBenchArgs(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof BenchUsageError)) throw error;
  process.stderr.write(`bench: ${error.message} (see npm run bench -- --help)\n`);
  process.exit(2);
}
if (parsed.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const { flags, only } = parsed;
// The bench drives the built product (dist/): build it now that the arguments are known to be good.
if (!process.env.BENCH_NO_BUILD) execFileSync('npm', ['run', '--silent', 'build'], { cwd: new URL('..', import.meta.url), stdio: ['ignore', 'ignore', 'inherit'] });

const FULL = {
  concurrency: 50, churnMs: 4000, rounds: 4,
  latencyMs: 8000,
  abrupt: 400, silent: 20, keepalive: 2,
  users: 10000, groups: 100, memConcurrency: 100,
  members: 2000, watchers: 50, spreadMs: 3000,
  bigMembers: 10000, bigWatchers: 100, announceMax: 1000, intervalMs: 1000,
};
const SMOKE = {
  concurrency: 5, churnMs: 600, rounds: 1,
  latencyMs: 600,
  abrupt: 5, silent: 2, keepalive: 1,
  users: 100, groups: 10, memConcurrency: 20,
  members: 30, watchers: 3, spreadMs: 200,
  bigMembers: 0, bigWatchers: 0, announceMax: 10, intervalMs: 200,
};
const sizes = { ...(flags.smoke ? SMOKE : FULL) };
for (const key of Object.keys(sizes)) {
  const env = process.env[`BENCH_${key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase()}`];
  if (env !== undefined) sizes[key] = Number(env);
}
for (const pair of flags.set) {
  const [key, value] = pair.split('=');
  if (!(key in sizes)) throw new Error(`unknown size '${key}' (known: ${Object.keys(sizes).join(', ')})`);
  sizes[key] = Number(value);
}
const profileDir = flags.profile || process.env.BENCH_PROFILE ? join(ROOT, 'bench/profiles') : undefined;
if (profileDir) mkdirSync(profileDir, { recursive: true });

const rows = [];
const emit = (row) => {
  const full = { time: new Date().toISOString(), ...row };
  rows.push(full);
  process.stdout.write(JSON.stringify(full) + '\n');
};
const log = (msg) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const ratio = (a, b) => (typeof a === 'number' && typeof b === 'number' && b !== 0 ? Math.round((a / b) * 1000) / 1000 : null);

/** Forks the load generator for one scenario run against `target`; `onPhase` may probe the broker. */
function generate(scenario, options, onPhase = async () => {}) {
  return new Promise((resolve, reject) => {
    const child = fork(join(ROOT, 'bench/load.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.on('message', async (message) => {
      if (message.type === 'phase') {
        await onPhase(message.phase);
        child.send({ type: 'continue', phase: message.phase });
      } else if (message.type === 'result') resolve(message.result);
      else if (message.type === 'error') reject(new Error(`${scenario} load generator failed: ${message.error}`));
    });
    child.once('exit', (code) => code !== 0 && reject(new Error(`${scenario} load generator exited with ${code}`)));
    child.send({ type: 'run', scenario, options });
  });
}

/** Starts a target, runs one scenario against it, always stops it. */
async function against(start, label, scenario, options, onPhase, args = []) {
  const target = await start({ profileDir, label: `${scenario}-${label}`, args });
  try {
    log(`${scenario}: ${target.name} on port ${target.port}`);
    // Broker CPU spent on the run: far steadier than throughput when neighbours take the cores. A
    // target made of several processes (Mosquitto + bridge) reports each part and their total.
    const cpu = target.cpu ?? (target.memory && (async () => ({ total: (await target.memory()).cpuMs })));
    const before = !onPhase && cpu ? await cpu() : undefined;
    const logsBefore = target.logCounts?.();
    const countsBefore = await target.bridgeCounts?.();
    const result = await generate(scenario, { port: target.port, ...(target.ports && { ports: target.ports }), ...options }, onPhase && ((phase) => onPhase(phase, target)));
    if (countsBefore) {
      // What the bridge itself published (acknowledged by Mosquitto) versus what the watcher received,
      // and the end state once every client has left: no user may be left online (no offline lost).
      let after = await target.bridgeCounts();
      // the last clients' offlines may still be on their way through the bridge (a published event is
      // counted once Mosquitto acknowledged it)
      const settled = (c) => c.usersOnline === 0 && c.publishedOffline - countsBefore.publishedOffline >= c.publishedOnline - countsBefore.publishedOnline;
      for (let i = 0; i < 50 && !settled(after); i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        after = await target.bridgeCounts();
      }
      result.bridgePublished = { online: after.publishedOnline - countsBefore.publishedOnline, offline: after.publishedOffline - countsBefore.publishedOffline };
      result.usersOnlineAtEnd = after.usersOnline;
    }
    if (before) {
      const after = await cpu();
      const round = (v) => Math.round(v * 10) / 10;
      result.brokerCpuMs = round(after.total - before.total);
      if (after.parts) result.brokerCpuParts = Object.fromEntries(Object.entries(after.parts).map(([k, v]) => [k, round(v - before.parts[k])]));
    }
    if (logsBefore) {
      const logs = Object.entries(target.logCounts()).map(([msg, n]) => [msg, n - (logsBefore[msg] ?? 0)]).filter(([, n]) => n > 0);
      result.bridgeLogs = Object.fromEntries(logs);
    }
    return result;
  } finally {
    await target.stop();
  }
}

/**
 * Each round's product run beside its anchor run (same round, same machine state): the sorted ratios of
 * their cycles/s and their median (to 3 decimals), which resists a neighbour's burst better than the
 * ratio of totals.
 */
function pairedMedian(product, anchor) {
  const paired = product.map((run, i) => run.cyclesPerSec / anchor[i].cyclesPerSec).sort((x, y) => x - y);
  return { paired, median: Math.round(paired[Math.floor((paired.length - 1) / 2)] * 1000) / 1000 };
}

const PRODUCT = { flavor: 'presence', announce: false };
const results = {};

async function churnScenario() {
  const opts = { concurrency: sizes.concurrency, durationMs: sizes.churnMs };
  const product = [];
  const anchor = [];
  // Interleaved rounds (anchor, product, anchor, product): drift on a shared machine hits both alike.
  for (let round = 0; round < sizes.rounds; round++) {
    anchor.push(await against(startBareAedes, 'anchor', 'churn', { flavor: 'none', announce: false, ...opts }));
    product.push(await against(startProduct, 'product', 'churn', { ...PRODUCT, ...opts }));
  }
  const rate = (runs) => Math.round((runs.reduce((s, r) => s + r.cycles, 0) / runs.reduce((s, r) => s + r.seconds, 0)) * 10) / 10;
  const p = rate(product);
  const a = rate(anchor);
  results.churnRate = p;
  // Each round's product run follows its anchor run; the median of those paired ratios resists a
  // neighbour's burst on the shared machine better than the ratio of totals.
  const { paired, median } = pairedMedian(product, anchor);
  const expected = product.reduce((s, r) => s + r.expectedEvents, 0);
  const delivered = product.reduce((s, r) => s + r.deliveredEvents, 0);
  const sz = { concurrency: sizes.concurrency, seconds: sizes.churnMs / 1000, rounds: sizes.rounds };
  emit({ scenario: 'churn', metric: 'connect/disconnect cycles per second (ratio: median of paired rounds)', unit: 'cycles/s', product: p, anchor: a, ratio: median, target: 'ratio >= 0.85', pass: median >= 0.85, sizes: sz, runs: { product, anchor, pairedRatios: paired } });
  const cpuPerCycle = (runs) => Math.round((runs.reduce((s, r) => s + r.brokerCpuMs, 0) / runs.reduce((s, r) => s + r.cycles, 0)) * 1000) / 1000;
  const cpuP = cpuPerCycle(product);
  const cpuA = cpuPerCycle(anchor);
  emit({ scenario: 'churn', metric: 'broker CPU per connect/disconnect cycle', unit: 'ms', product: cpuP, anchor: cpuA, ratio: ratio(cpuP, cpuA), target: 'ratio <= 1.18 (1 / 0.85)', pass: ratio(cpuP, cpuA) <= 1 / 0.85, sizes: sz });
  // Informational: the same churn where the clients announce themselves by hand (retained birth, will,
  // retained offline), which is what presence costs an application on a bare broker without the product.
  const byHand = await against(startBareAedes, 'anchor-by-hand', 'churn', { flavor: 'by-hand', announce: true, ...opts });
  emit({ scenario: 'churn', metric: 'cycles per second against bare Aedes with presence announced by the clients', unit: 'cycles/s', product: p, anchor: byHand.cyclesPerSec, ratio: ratio(p, byHand.cyclesPerSec), target: null, pass: null, sizes: { ...sz, rounds: 1 }, runs: { anchor: [byHand] } });
  emit({ scenario: 'churn', metric: 'online events delivered to the watcher', unit: 'events', product: delivered, anchor: null, expected, ratio: null, target: 'all', pass: delivered === expected, sizes: sz });
}

async function latencyScenario() {
  const rate = Math.max(1, Math.round((results.churnRate ?? Number(process.env.BENCH_RATE ?? 200)) / 2));
  const opts = { rate, durationMs: sizes.latencyMs };
  const anchor = await against(startBareAedes, 'anchor', 'latency', { flavor: 'by-hand', announce: true, ...opts });
  const product = await against(startProduct, 'product', 'latency', { ...PRODUCT, ...opts });
  const sz = { rate, seconds: sizes.latencyMs / 1000 };
  for (const p of ['p50', 'p99']) {
    emit({ scenario: 'latency', metric: `CONNACK -> online at a watcher, ${p}`, unit: 'ms', product: product[p], anchor: anchor[p], ratio: ratio(product[p], anchor[p]), target: p === 'p99' ? 'p99 <= 5 ms' : null, pass: p === 'p99' ? product.p99 <= 5 : null, sizes: sz });
  }
  emit({ scenario: 'latency', metric: 'online events delivered', unit: 'events', product: product.deliveredEvents, anchor: anchor.deliveredEvents, expected: product.expectedEvents, ratio: null, target: 'all', pass: product.deliveredEvents === product.expectedEvents, sizes: sz });
}

async function lossScenario() {
  const opts = { abrupt: sizes.abrupt, silent: sizes.silent, keepalive: sizes.keepalive };
  const anchor = await against(startBareAedes, 'anchor', 'loss', { flavor: 'by-hand', announce: true, ...opts });
  const product = await against(startProduct, 'product', 'loss', { ...PRODUCT, ...opts });
  const sz = { abrupt: sizes.abrupt, silent: sizes.silent, keepaliveSeconds: sizes.keepalive };
  const budget = sizes.keepalive * 1500 + 100;
  for (const p of ['p50', 'p99']) {
    emit({ scenario: 'loss', metric: `abrupt socket loss (RST) -> offline, ${p}`, unit: 'ms', product: product.abrupt[p], anchor: anchor.abrupt[p], ratio: ratio(product.abrupt[p], anchor.abrupt[p]), target: p === 'p99' ? 'p99 <= 5 ms' : null, pass: p === 'p99' ? product.abrupt.p99 <= 5 : null, sizes: sz });
  }
  emit({ scenario: 'loss', metric: `silent client (keepalive ${sizes.keepalive} s) -> offline, max`, unit: 'ms', product: product.silent.max, anchor: anchor.silent.max, ratio: ratio(product.silent.max, anchor.silent.max), target: `max <= ${budget} ms`, pass: product.silent.max <= budget, sizes: sz });
  const expected = product.abrupt.expectedEvents + product.silent.expectedEvents;
  const delivered = product.abrupt.deliveredEvents + product.silent.deliveredEvents;
  emit({ scenario: 'loss', metric: 'offline events delivered', unit: 'events', product: delivered, anchor: anchor.abrupt.deliveredEvents + anchor.silent.deliveredEvents, expected, ratio: null, target: 'all', pass: delivered === expected, sizes: sz });
}

async function memoryScenario() {
  const opts = { users: sizes.users, groups: sizes.groups, concurrency: sizes.memConcurrency };
  const probe = (store) => async (phase, target) => {
    // Let queued work and socket teardown finish before measuring.
    await new Promise((resolve) => setTimeout(resolve, 500));
    store[phase] = await target.memory();
  };
  const a = {};
  const p = {};
  const anchorRun = await against(startBareAedes, 'anchor', 'memory', { flavor: 'none', announce: false, ...opts }, probe(a));
  const productRun = await against(startProduct, 'product', 'memory', { ...PRODUCT, ...opts }, probe(p));
  const n = sizes.users;
  const per = (m, field, from, to) => Math.round((m[to][field] - m[from][field]) / n);
  const sz = { users: n, groups: sizes.groups, groupsPerUser: 3 };
  const rssP = per(p, 'rss', 'baseline', 'connected');
  const rssA = per(a, 'rss', 'baseline', 'connected');
  const heapP = per(p, 'heapUsed', 'baseline', 'connected');
  const heapA = per(a, 'heapUsed', 'baseline', 'connected');
  emit({ scenario: 'memory', metric: 'RSS per connected user (3 groups each)', unit: 'bytes', product: rssP, anchor: rssA, ratio: ratio(rssP, rssA), target: 'ratio <= 1.25', pass: ratio(rssP, rssA) <= 1.25, sizes: sz, probes: { product: p, anchor: a } });
  emit({ scenario: 'memory', metric: 'JS heap per connected user', unit: 'bytes', product: heapP, anchor: heapA, ratio: ratio(heapP, heapA), target: null, pass: null, sizes: sz });
  const residualP = per(p, 'heapUsed', 'baseline', 'disconnected');
  const residualA = per(a, 'heapUsed', 'baseline', 'disconnected');
  emit({ scenario: 'memory', metric: 'JS heap left per user after all disconnect', unit: 'bytes', product: residualP, anchor: residualA, ratio: null, target: 'memberships + retained last event only', pass: null, sizes: sz });
  const growthP = per(p, 'heapUsed', 'disconnected', 'disconnected-again');
  const growthA = per(a, 'heapUsed', 'disconnected', 'disconnected-again');
  emit({ scenario: 'memory', metric: 'JS heap growth per user over a second connect/disconnect cycle (leak check)', unit: 'bytes', product: growthP, anchor: growthA, ratio: null, target: '<= 64 B/user', pass: growthP <= 64, sizes: sz });
  const rssBackP = per(p, 'rss', 'baseline', 'disconnected-again');
  const rssBackA = per(a, 'rss', 'baseline', 'disconnected-again');
  emit({ scenario: 'memory', metric: 'RSS above baseline per user after the second cycle', unit: 'bytes', product: rssBackP, anchor: rssBackA, ratio: null, target: null, pass: null, sizes: sz });
  emit({ scenario: 'memory', metric: 'presence events delivered (user + group, two connect/disconnect cycles)', unit: 'events', product: productRun.deliveredEvents, anchor: null, expected: productRun.expectedEvents, ratio: null, target: 'all', pass: productRun.complete && productRun.deliveredEvents === productRun.expectedEvents, sizes: sz, connectRetries: { product: productRun.connectRetries, anchor: anchorRun.connectRetries } });
}

/**
 * The storm in two flavours against one anchor run: per member (interval mode off), and interval mode
 * (ids listed in interval events count as delivered; lists never cut here, so every member must arrive).
 * At full size also a second, larger storm.
 */
async function stormScenario() {
  const storms = [[sizes.members, sizes.watchers], [sizes.bigMembers, sizes.bigWatchers]].filter(([m, w]) => m > 0 && w > 0);
  for (const [index, [members, watchers]] of storms.entries()) {
    const opts = { members, watchers, spreadMs: sizes.spreadMs };
    const tag = index === 0 ? '' : ` (${members} x ${watchers})`;
    const anchor = await against(startBareAedes, 'anchor', 'storm', { flavor: 'by-hand', announce: false, ...opts });
    const flavours = [
      ['per member', ['--announce-max', '0'], 100],
      ['interval mode', ['--announce-max', String(sizes.announceMax), '--interval-ms', String(sizes.intervalMs), '--interval-max-ids', '100000'], sizes.intervalMs + 100],
    ];
    for (const [flavour, args, limit] of flavours) {
      const product = await against(startProduct, 'product', 'storm', { ...PRODUCT, ...opts }, undefined, args);
      const sz = { ...opts, flavour, ...(flavour === 'interval mode' ? { announceMax: sizes.announceMax, intervalMs: sizes.intervalMs } : {}) };
      const name = (metric) => `${metric}, ${flavour}${tag}`;
      emit({ scenario: 'storm', metric: name('group events delivered (members x watchers x 2)'), unit: 'events', product: product.deliveredEvents, anchor: anchor.deliveredEvents, expected: product.expectedEvents, ratio: null, target: 'all', pass: product.deliveredEvents === product.expectedEvents, sizes: sz, connectRetries: { product: product.connectRetries, anchor: anchor.connectRetries } });
      for (const phase of ['join', 'offline']) {
        emit({ scenario: 'storm', metric: name(`${phase} -> every watcher, p99 delivery delay`), unit: 'ms', product: product[phase].p99, anchor: anchor[phase].p99, ratio: ratio(product[phase].p99, anchor[phase].p99), target: `p99 <= ${limit} ms`, pass: product[phase].p99 <= limit, sizes: sz, detail: { product: product[phase], anchor: anchor[phase] } });
      }
      const cpu = (run) => run.brokerCpuMs;
      emit({ scenario: 'storm', metric: name('broker CPU for the whole storm (both phases)'), unit: 'ms', product: cpu(product), anchor: cpu(anchor), ratio: ratio(cpu(product), cpu(anchor)), target: null, pass: null, sizes: sz });
      emit({ scenario: 'storm', metric: name('messages per watcher (both phases)'), unit: 'messages', product: product.messagesPerWatcher, anchor: anchor.messagesPerWatcher, ratio: ratio(product.messagesPerWatcher, anchor.messagesPerWatcher), target: null, pass: null, sizes: sz });
    }
  }
}

/**
 * Where missing events went: `published` counts what the bridge published and Mosquitto acknowledged;
 * fewer delivered than published were dropped between Mosquitto and the watcher (its queue,
 * max_queued_messages), not by the product. `onlineAtEnd` is the bridge's online users once every
 * client has left: anything above 0 would be a lost offline.
 */
function bridgeSide(runs) {
  const sum = (f) => runs.reduce((s, r) => s + (f(r) ?? 0), 0);
  return {
    published: { online: sum((r) => r.bridgePublished?.online), offline: sum((r) => r.bridgePublished?.offline) },
    onlineAtEnd: runs.map((r) => r.usersOnlineAtEnd),
  };
}

async function attachScenario() {
  const sz = { concurrency: sizes.concurrency, seconds: sizes.churnMs / 1000, rounds: sizes.rounds };
  const churnTarget = 'ratio >= 0.8';
  if (!mosquittoPath() || !mosquittoPasswdPath()) {
    emit({ scenario: 'attach', metric: 'connect/disconnect cycles per second', status: 'not run: mosquitto is not installed', product: null, anchor: null, ratio: null, target: churnTarget, pass: null, sizes: sz });
    return;
  }
  if (!attachAvailable()) {
    emit({ scenario: 'attach', metric: 'connect/disconnect cycles per second', status: 'not run: attach mode not built', product: null, anchor: null, ratio: null, target: churnTarget, pass: null, sizes: sz });
    return;
  }
  // Both sides run the same Mosquitto (the project's mosquitto.conf and ACL: every client logs in, its
  // username is its user id) and the same clients: birth after CONNACK, a will, an offline before
  // DISCONNECT. The anchor's watcher reads the births themselves (with the bridge's ACL rights, as an
  // application's backend would); the product's watcher is an ordinary user reading presence/user/+,
  // where the bridge publishes.
  const anchorSide = { flavor: 'by-hand', announce: true, auth: true };
  const productSide = { flavor: 'presence', announce: true, auth: true };
  const churnUsers = Array.from({ length: sizes.concurrency }, (_, w) => `ch-${w}`);
  const mosquittoFor = (users, noDelay = false) => (opts) => startMosquitto({ ...opts, users, noDelay });
  const attachFor = (users, noDelay = false) => (opts) => startAttach({ ...opts, users, noDelay });
  const churnOpts = { concurrency: sizes.concurrency, durationMs: sizes.churnMs };
  const product = [];
  const anchor = [];
  // Interleaved rounds, as in scenario 1: a neighbour's burst hits both sides alike.
  for (let round = 0; round < sizes.rounds; round++) {
    anchor.push(await against(mosquittoFor(churnUsers), 'anchor', 'churn', { ...anchorSide, ...churnOpts }));
    product.push(await against(attachFor(churnUsers), 'product', 'churn', { ...productSide, ...churnOpts }));
  }
  const total = (runs, field) => runs.reduce((s, r) => s + r[field], 0);
  const rate = (runs) => Math.round((total(runs, 'cycles') / total(runs, 'seconds')) * 10) / 10;
  const pRate = rate(product);
  const aRate = rate(anchor);
  const { paired, median } = pairedMedian(product, anchor);
  emit({ scenario: 'attach', metric: 'connect/disconnect cycles per second, birth + will + offline by the client (ratio: median of paired rounds)', unit: 'cycles/s', status: 'ok', product: pRate, anchor: aRate, ratio: median, target: churnTarget, pass: median >= 0.8, sizes: sz, runs: { product, anchor, pairedRatios: paired } });
  const cpuPerCycle = (runs) => Math.round((total(runs, 'brokerCpuMs') / total(runs, 'cycles')) * 1000) / 1000;
  const cpuP = cpuPerCycle(product);
  const cpuA = cpuPerCycle(anchor);
  const part = (runs, name) => Math.round((runs.reduce((s, r) => s + (r.brokerCpuParts?.[name] ?? 0), 0) / total(runs, 'cycles')) * 1000) / 1000;
  emit({ scenario: 'attach', metric: 'broker CPU per cycle (product: Mosquitto + bridge)', unit: 'ms', status: 'ok', product: cpuP, anchor: cpuA, ratio: ratio(cpuP, cpuA), target: null, pass: null, sizes: sz, detail: { product: { mosquitto: part(product, 'mosquitto'), bridge: part(product, 'bridge') }, anchor: { mosquitto: part(anchor, 'mosquitto') } } });
  emit({ scenario: 'attach', metric: 'churn: online events delivered to the watcher', unit: 'events', status: 'ok', product: total(product, 'deliveredEvents'), anchor: total(anchor, 'deliveredEvents'), expected: total(product, 'expectedEvents'), anchorExpected: total(anchor, 'expectedEvents'), ratio: null, target: 'all', pass: total(product, 'deliveredEvents') === total(product, 'expectedEvents'), sizes: sz, detail: bridgeSide(product) });

  // Latency: open loop at half the churn rate the slower side sustained, so both run the same load.
  const latRate = Math.max(1, Math.round(Math.min(pRate, aRate) / 2));
  const latOpts = { rate: latRate, durationMs: sizes.latencyMs };
  const latUsers = Array.from({ length: Math.max(1, Math.round((latRate * sizes.latencyMs) / 1000)) }, (_, i) => `lat-${i}`);
  const latSz = { rate: latRate, seconds: sizes.latencyMs / 1000 };
  const latencyPair = async (noDelay) => {
    const anchorLat = await against(mosquittoFor(latUsers, noDelay), 'anchor', 'latency', { ...anchorSide, ...latOpts });
    const productLat = await against(attachFor(latUsers, noDelay), 'product', 'latency', { ...productSide, ...latOpts });
    const tag = noDelay ? ', Mosquitto with set_tcp_nodelay true' : '';
    for (const p of ['p50', 'p99']) {
      emit({ scenario: 'attach', metric: `CONNACK + birth -> online at a watcher${tag}, ${p}`, unit: 'ms', status: 'ok', product: productLat[p], anchor: anchorLat[p], ratio: ratio(productLat[p], anchorLat[p]), target: null, pass: null, sizes: latSz, detail: p === 'p99' ? { product: productLat, anchor: anchorLat } : undefined });
    }
    emit({ scenario: 'attach', metric: `latency${tag}: online events delivered`, unit: 'events', status: 'ok', product: productLat.deliveredEvents, anchor: anchorLat.deliveredEvents, expected: productLat.expectedEvents, anchorExpected: anchorLat.expectedEvents, ratio: null, target: 'all', pass: productLat.deliveredEvents === productLat.expectedEvents, sizes: latSz });
  };
  await latencyPair(false);
  // Informational, full runs only: Mosquitto's default (set_tcp_nodelay false) holds a small write to
  // the bridge until the bridge ACKs the previous one, and the bridge (QoS 0 subscriber, nothing to
  // answer) ACKs late. The same pair with Nagle off on Mosquitto's side shows what that costs.
  if (!flags.smoke) await latencyPair(true);
}

/** `--redis` on one node against the in-memory default: cycles/s, CPU and Redis commands per cycle. */
async function clusterScenario() {
  if (!redisServerPath()) return emit({ scenario: 'cluster', metric: 'run', status: 'skipped: redis-server is not installed', pass: null });
  const redis = await startRedisServer();
  try {
    const opts = { ...PRODUCT, concurrency: sizes.concurrency, durationMs: sizes.churnMs };
    const memory = [];
    const clustered = [];
    const pairs = [];
    const bareMemory = [];
    const bareRedis = [];
    let commands = 0;
    let bareCommands = 0;
    for (let round = 0; round < sizes.rounds; round++) {
      // What aedes' own Redis engines cost without presence: the ceiling the product's ratio lives under.
      const bare = { flavor: 'none', announce: false, concurrency: sizes.concurrency, durationMs: sizes.churnMs };
      bareMemory.push(await against(startBareAedes, 'bare-memory', 'churn', bare));
      redis.flush();
      const bareBefore = redis.commands();
      bareRedis.push(await against(startBareAedes, 'bare-redis', 'churn', bare, undefined, ['--redis', redis.url]));
      bareCommands += redis.commands() - bareBefore;
      redis.flush();
      memory.push(await against(startProduct, 'memory', 'churn', opts));
      redis.flush();
      const before = redis.commands();
      clustered.push(await against(productWithRedis(redis), 'redis', 'churn', opts));
      commands += redis.commands() - before;
      redis.flush();
      pairs.push(await against(twoNodes(redis), '2-nodes', 'churn', opts));
    }
    const total = (runs, field) => runs.reduce((s, r) => s + r[field], 0);
    const rate = (runs) => Math.round((total(runs, 'cycles') / total(runs, 'seconds')) * 10) / 10;
    const { paired, median } = pairedMedian(clustered, memory);
    const sz = { concurrency: sizes.concurrency, seconds: sizes.churnMs / 1000, rounds: sizes.rounds };
    emit({ scenario: 'cluster', metric: 'cycles per second, one node with --redis vs in memory (ratio: median of paired rounds)', unit: 'cycles/s', product: rate(clustered), anchor: rate(memory), ratio: median, target: 'ratio >= 0.7', pass: median >= 0.7, sizes: sz, runs: { product: clustered, anchor: memory, pairedRatios: paired } });
    const cpu = (runs) => Math.round((total(runs, 'brokerCpuMs') / total(runs, 'cycles')) * 1000) / 1000;
    emit({ scenario: 'cluster', metric: 'node CPU per cycle, --redis vs in memory (Redis itself not counted)', unit: 'ms', product: cpu(clustered), anchor: cpu(memory), ratio: ratio(cpu(clustered), cpu(memory)), target: null, pass: null, sizes: sz });
    const { paired: pairedTwo, median: medianTwo } = pairedMedian(pairs, clustered);
    emit({ scenario: 'cluster', metric: 'cycles per second, 2 nodes behind a round-robin generator vs 1 node (both --redis; ratio: median of paired rounds)', unit: 'cycles/s', product: rate(pairs), anchor: rate(clustered), ratio: medianTwo, target: null, pass: total(pairs, 'deliveredEvents') === total(pairs, 'expectedEvents'), sizes: { ...sz, cpus: availableParallelism() }, runs: { product: pairs, anchor: clustered, pairedRatios: pairedTwo } });
    emit({ scenario: 'cluster', metric: 'CPU per cycle, 2 nodes (both summed) vs 1 node, --redis (Redis itself not counted)', unit: 'ms', product: cpu(pairs), anchor: cpu(clustered), ratio: ratio(cpu(pairs), cpu(clustered)), target: null, pass: null, sizes: sz });
    const { paired: pairedBare, median: medianBare } = pairedMedian(bareRedis, bareMemory);
    emit({ scenario: 'cluster', metric: "cycles per second, bare aedes on its own Redis engines vs bare aedes in memory (no presence; the engines' own ceiling for the row above)", unit: 'cycles/s', product: rate(bareRedis), anchor: rate(bareMemory), ratio: medianBare, target: null, pass: null, sizes: sz, runs: { product: bareRedis, anchor: bareMemory, pairedRatios: pairedBare } });
    emit({ scenario: 'cluster', metric: 'CPU per cycle, bare aedes on its own Redis engines vs in memory (Redis itself not counted)', unit: 'ms', product: cpu(bareRedis), anchor: cpu(bareMemory), ratio: ratio(cpu(bareRedis), cpu(bareMemory)), target: null, pass: null, sizes: sz });
    emit({ scenario: 'cluster', metric: 'Redis commands per cycle (pipelined and scripted ones count each)', unit: 'commands', product: Math.round((commands / total(clustered, 'cycles')) * 10) / 10, anchor: Math.round((bareCommands / total(bareRedis, 'cycles')) * 10) / 10, ratio: null, target: null, pass: null, sizes: sz });
    redis.flush();
    await nodeDeathRow(redis);
  } finally {
    redis.stop();
  }
}

/** kill -9 one of two nodes holding `users` connections: time until each offline (`node_down`) reached a watcher on the other. */
async function nodeDeathRow(redis) {
  const nodeTimeoutMs = 2000;
  const users = flags.smoke ? 10 : 200;
  const target = await twoNodes(redis, ['--node-timeout', String(nodeTimeoutMs)])({ profileDir, label: 'node-death' });
  let killedAt = 0;
  try {
    const [deadPort, port] = target.ports;
    const result = await generate('nodeDeath', { port, deadPort, users, concurrency: 20 }, async () => {
      killedAt = Date.now();
      process.kill(target.pids[0], 'SIGKILL');
    });
    const last = result.lastAt - killedAt;
    const goal = nodeTimeoutMs + 1000;
    const exact = result.complete && result.offlines === users && result.reasons.node_down === users;
    emit({ scenario: 'cluster', metric: `node death -> offline at a watcher on the other node (kill -9, --node-timeout ${nodeTimeoutMs}; product: last offline, anchor: first)`, unit: 'ms', product: last, anchor: result.firstAt - killedAt, ratio: null, target: `<= ${goal} (node-timeout + 1 s), each user offline once with node_down`, pass: exact && last <= goal, sizes: { users, nodeTimeoutMs }, detail: result });
  } finally {
    await target.stop();
  }
}

const SCENARIOS = { cluster: clusterScenario, churn: churnScenario, latency: latencyScenario, loss: lossScenario, memory: memoryScenario, storm: stormScenario, attach: attachScenario };
const started = Date.now();
// The machine is shared: the load average before and after goes with the numbers.
const loadNow = () => loadavg().map((v) => Math.round(v * 100) / 100);
const loadAtStart = loadNow();
log(`sizes ${JSON.stringify(sizes)}${profileDir ? `, CPU profiles in ${profileDir}` : ''}`);
for (const name of ALL) {
  if (!only.has(name)) continue;
  try {
    await SCENARIOS[name]();
  } catch (error) {
    emit({ scenario: name, metric: 'run', status: `failed: ${error.message.split('\n')[0]}`, pass: false });
    log(String(error.stack ?? error));
  }
}
const meta = { sizes, seconds: Math.round((Date.now() - started) / 1000), node: process.version, smoke: flags.smoke, cpus: availableParallelism(), load: { start: loadAtStart, end: loadNow() } };
if (flags.out) writeFileSync(flags.out, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
// Published results come from full runs only: a partial or smoke run would replace them with less.
if (parsed.publish) writeDocs(rows, meta);
else if (!flags['no-docs']) log('not a full run: docs/benchmarks.md, .jsonl and .svg left as they were');
log(`done in ${meta.seconds} s`);
process.exitCode = rows.some((r) => r.status?.startsWith('failed')) ? 1 : 0;

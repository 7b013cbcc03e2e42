// Brokers under test, each in a process of its own: the product (serve, or Mosquitto + attach) and
// the anchors (bare Aedes, bare Mosquitto). Every target answers memory probes where it can.
import { spawn, execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchPassword } from './lib/wire.mjs';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'dist/cli/main.js');
const PROBE = join(ROOT, 'bench/probe.mjs');

/** Spawns a node process that logs JSON lines; resolves once it logs `listening`. */
function startNode(args, { profileDir, label, env }) {
  const flags = ['--expose-gc', '--import', PROBE];
  if (profileDir) flags.push('--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${label}-${Date.now()}.cpuprofile`);
  const proc = spawn(process.execPath, [...flags, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env: { ...process.env, ...env } });
  const logCounts = {};
  return new Promise((resolve, reject) => {
    let buffer = '';
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`${label} did not start: ${stderr}`)), 20_000);
    proc.stderr.on('data', (chunk) => (stderr += chunk).length > 10_000 && (stderr = stderr.slice(-5000)));
    proc.once('exit', (code) => reject(new Error(`${label} exited with ${code} before listening: ${stderr}`)));
    proc.stdout.on('data', (chunk) => {
      buffer += chunk;
      let newline;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        let record;
        try {
          record = JSON.parse(line);
        } catch {
          continue;
        }
        if (typeof record.msg === 'string') logCounts[record.msg] = (logCounts[record.msg] ?? 0) + 1;
        if (record.msg === 'listening') {
          clearTimeout(timer);
          resolve({ proc, port: record.mqttPort, record, stderr: () => stderr, logCounts });
        }
      }
      if (buffer.length > 100_000) buffer = '';
    });
  });
}

let probeId = 0;
function memoryOf(proc) {
  return new Promise((resolve, reject) => {
    const id = ++probeId;
    const timer = setTimeout(() => reject(new Error('memory probe timed out')), 30_000);
    const onMessage = (message) => {
      if (message?.probe === 'memory' && message.id === id) {
        clearTimeout(timer);
        proc.off('message', onMessage);
        resolve(message);
      }
    };
    proc.on('message', onMessage);
    proc.send({ probe: 'memory', id });
  });
}

function stopProc(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
    proc.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    proc.kill('SIGINT');
  });
}

/** `serve` with `args` (the storm's `--announce-max 0`, for one). */
export async function startProduct({ profileDir, label = 'product', args = [] } = {}) {
  return startProductWith(args, { profileDir, label });
}

/** `serve` with extra flags (bench/cluster.mjs: `--redis`). */
export async function startProductWith(extra, { profileDir, label = 'product' } = {}) {
  if (!existsSync(CLI)) throw new Error('dist/cli/main.js is missing: run `npm run build`');
  const { proc, port } = await startNode([CLI, 'serve', '--mqtt-port', '0', '--http-port', '0', '--log-level', 'info', ...extra], { profileDir, label });
  return { name: extra.length ? `presence-bridge serve ${extra.join(' ')}` : 'presence-bridge serve', port, memory: () => memoryOf(proc), stop: () => stopProc(proc), pid: proc.pid };
}

/** Bare aedes; `args` ['--redis', URL] puts it on aedes' own Redis engines (bench/bare-aedes.mjs). */
export async function startBareAedes({ profileDir, label = 'bare-aedes', args = [] } = {}) {
  const { proc, port } = await startNode([join(ROOT, 'bench/bare-aedes.mjs'), '--port', '0', ...args], { profileDir, label });
  return { name: ['bare aedes', ...args].join(' '), port, memory: () => memoryOf(proc), stop: () => stopProc(proc), pid: proc.pid };
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** A program's path, from well-known places or PATH; undefined when it is not installed. */
function programPath(candidates) {
  for (const candidate of candidates) {
    try {
      return execFileSync('sh', ['-c', `command -v "${candidate}"`], { encoding: 'utf8' }).trim() || undefined;
    } catch {
      // next
    }
  }
  return undefined;
}

export const mosquittoPath = () => programPath(['/usr/sbin/mosquitto', 'mosquitto']);
export const mosquittoPasswdPath = () => programPath(['/usr/bin/mosquitto_passwd', 'mosquitto_passwd']);

/** CPU time (user + system) of a process that is not ours to probe, from /proc. */
function procCpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in USER_HZ (100)
  } catch {
    return 0;
  }
}

/**
 * The project's mosquitto.conf with what a bench run must change: the TCP listener moved to a free
 * loopback port, the WebSocket listener dropped, the password file generated, the ACL and store made
 * absolute, logging off (it would cost both sides alike and only fill a pipe). Everything else (no
 * anonymous clients, the ACL, persistence) is the supported setup. Throws if a line it relies on is gone.
 */
function benchMosquittoConf(port, dir, noDelay) {
  const seen = new Set();
  const out = [];
  let skipWs = false;
  for (const line of readFileSync(join(ROOT, 'mosquitto.conf'), 'utf8').split('\n')) {
    const [key, value] = line.trim().split(/\s+/, 2);
    if (skipWs && key === 'protocol') {
      skipWs = false;
      continue;
    }
    skipWs = false;
    if (key === 'listener' && value === '1883') out.push(`listener ${port} 127.0.0.1`);
    else if (key === 'listener' && value === '9001') skipWs = true;
    else if (key === 'password_file') out.push(`password_file ${join(dir, 'passwd')}`);
    else if (key === 'acl_file') out.push(`acl_file ${join(ROOT, value)}`);
    else if (key === 'persistence_location') out.push(`persistence_location ${join(dir, 'data')}/`);
    else {
      out.push(line);
      continue;
    }
    seen.add(key === 'listener' ? `listener ${value}` : key);
  }
  for (const needed of ['listener 1883', 'password_file', 'acl_file', 'persistence_location']) {
    if (!seen.has(needed)) throw new Error(`mosquitto.conf has no '${needed}' line any more`);
  }
  out.push('log_dest none');
  if (noDelay) out.push('set_tcp_nodelay true');
  // Started as root, Mosquitto would drop to the `mosquitto` user and lose access to the temp dir.
  if (process.getuid?.() === 0) out.push('user root');
  return out.join('\n') + '\n';
}

/**
 * Mosquitto on a free loopback port, configured from the project's mosquitto.conf and mosquitto.acl:
 * no anonymous clients, `users` (plus `bridge` and `watcher`) in the password file, each with
 * `benchPassword(user)`. The same broker for the anchor and under the bridge.
 */
export async function startMosquitto({ users = [], noDelay = false } = {}) {
  const bin = mosquittoPath();
  if (!bin) throw new Error('mosquitto is not installed (apt-get install -y mosquitto)');
  const passwdBin = mosquittoPasswdPath();
  if (!passwdBin) throw new Error('mosquitto_passwd is not installed (apt-get install -y mosquitto)');
  const dir = mkdtempSync(join(tmpdir(), 'bench-mosquitto-'));
  mkdirSync(join(dir, 'data'));
  const passwd = join(dir, 'passwd');
  writeFileSync(passwd, [...new Set(['bridge', 'watcher', ...users])].map((u) => `${u}:${benchPassword(u)}\n`).join(''));
  execFileSync(passwdBin, ['-U', passwd]); // hashes the plain-text file in place
  chmodSync(passwd, 0o600);
  const port = await freePort();
  const config = join(dir, 'mosquitto.conf');
  writeFileSync(config, benchMosquittoConf(port, dir, noDelay));
  const proc = spawn(bin, ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (chunk) => (stderr += chunk));
  // Ready when it accepts a TCP connection.
  const { connect } = await import('node:net');
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`mosquitto exited: ${stderr}`);
    const ok = await new Promise((resolve) => {
      const socket = connect({ port, host: '127.0.0.1' }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`mosquitto did not start: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    name: 'mosquitto',
    port,
    pid: proc.pid,
    url: `mqtt://127.0.0.1:${port}`,
    cpu: async () => {
      const total = procCpuMs(proc.pid);
      return { total, parts: { mosquitto: total } };
    },
    rss: () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'))?.[1] ?? 0) * 1024,
    stop: async () => {
      await stopProc(proc);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Whether this build has attach mode: the CLI knows the command (its usage lists it). */
export function attachAvailable() {
  if (!existsSync(CLI)) return false;
  try {
    const usage = execFileSync(process.execPath, [CLI, '--help'], { encoding: 'utf8', timeout: 10_000 });
    return /^\s+attach\b/m.test(usage);
  } catch {
    return false;
  }
}

/** Polls the bridge's /healthz until it answers 200: connected to the broker and resynced. */
/**
 * From the bridge's /metrics: user `online` and `offline` events it published (acknowledged by the
 * broker) and users online now. Tells events the bridge never published from events the watcher lost.
 */
async function bridgeCounts(httpPort) {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const value = (pattern) => Number(text.match(pattern)?.[1] ?? NaN);
  return {
    publishedOnline: value(/^presence_events_published_total\{kind="user",action="online"\} (\d+)/m),
    publishedOffline: value(/^presence_events_published_total\{kind="user",action="offline"\} (\d+)/m),
    usersOnline: value(/^presence_users_online (\d+)/m),
  };
}

async function healthy(httpPort, proc, stderr, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`attach bridge exited with ${proc.exitCode}: ${stderr()}`);
    try {
      const res = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
      last = `${res.status} ${await res.text()}`;
      if (res.status === 200) return;
    } catch (error) {
      last = String(error);
    }
    if (Date.now() > deadline) throw new Error(`attach bridge not healthy after ${timeoutMs} ms: ${last}\n${stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * Mosquitto plus `presence-bridge attach`, logged in as the ACL's `bridge` user (password through
 * PRESENCE_BRIDGE_PASSWORD). Ready when the bridge's /healthz says 200, i.e. it is connected and
 * has finished its resync, so the first load client's birth is processed live.
 */
export async function startAttach({ profileDir, label = 'attach', users = [], noDelay = false } = {}) {
  const mosquitto = await startMosquitto({ users, noDelay });
  let bridge;
  try {
    bridge = await startNode(
      [CLI, 'attach', '--broker', mosquitto.url, '--username', 'bridge', '--http-port', '0', '--log-level', 'info'],
      { profileDir, label, env: { PRESENCE_BRIDGE_PASSWORD: benchPassword('bridge') } },
    );
    await healthy(bridge.record.httpPort, bridge.proc, bridge.stderr);
  } catch (error) {
    if (bridge) await stopProc(bridge.proc);
    await mosquitto.stop();
    throw error;
  }
  const { proc, logCounts } = bridge;
  return {
    name: 'mosquitto + attach',
    /** The bridge's log lines so far, counted by message (what it did besides publishing events). */
    logCounts: () => ({ ...logCounts }),
    port: mosquitto.port,
    pid: proc.pid,
    memory: () => memoryOf(proc),
    /** The bridge's own count of what it published (its /metrics), and how many users it holds online. */
    bridgeCounts: () => bridgeCounts(bridge.record.httpPort),
    cpu: async () => {
      const parts = { mosquitto: procCpuMs(mosquitto.pid), bridge: (await memoryOf(proc)).cpuMs };
      return { total: parts.mosquitto + parts.bridge, parts };
    },
    stop: async () => {
      await stopProc(proc);
      await mosquitto.stop();
    },
  };
}

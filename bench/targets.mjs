// Brokers under test, each in a process of its own: the product (serve, or Mosquitto + attach) and
// the anchors (bare Aedes, bare Mosquitto). Every target answers memory probes where it can.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'dist/cli/main.js');
const PROBE = join(ROOT, 'bench/probe.mjs');

/** Spawns a node process that logs JSON lines; resolves once it logs `listening`. */
function startNode(args, { profileDir, label }) {
  const flags = ['--expose-gc', '--import', PROBE];
  if (profileDir) flags.push('--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${label}-${Date.now()}.cpuprofile`);
  const proc = spawn(process.execPath, [...flags, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
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
        if (record.msg === 'listening') {
          clearTimeout(timer);
          resolve({ proc, port: record.mqttPort, record });
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

export async function startProduct({ profileDir, label = 'product' } = {}) {
  if (!existsSync(CLI)) throw new Error('dist/cli/main.js is missing: run `npm run build`');
  const { proc, port } = await startNode([CLI, 'serve', '--mqtt-port', '0', '--http-port', '0', '--log-level', 'info'], { profileDir, label });
  return { name: 'presence-bridge serve', port, memory: () => memoryOf(proc), stop: () => stopProc(proc), pid: proc.pid };
}

export async function startBareAedes({ profileDir, label = 'bare-aedes' } = {}) {
  const { proc, port } = await startNode([join(ROOT, 'bench/bare-aedes.mjs'), '--port', '0'], { profileDir, label });
  return { name: 'bare aedes', port, memory: () => memoryOf(proc), stop: () => stopProc(proc), pid: proc.pid };
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

export function mosquittoPath() {
  for (const candidate of ['/usr/sbin/mosquitto', 'mosquitto']) {
    try {
      return execFileSync('sh', ['-c', `command -v "${candidate}"`], { encoding: 'utf8' }).trim() || undefined;
    } catch {
      // next
    }
  }
  return undefined;
}

/** Mosquitto on a free loopback port with a throwaway config (anonymous, no persistence). */
export async function startMosquitto() {
  const bin = mosquittoPath();
  if (!bin) throw new Error('mosquitto is not installed (apt-get install -y mosquitto)');
  const dir = mkdtempSync(join(tmpdir(), 'bench-mosquitto-'));
  const port = await freePort();
  const config = join(dir, 'mosquitto.conf');
  writeFileSync(config, [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'max_keepalive 65535', 'log_dest none', ''].join('\n'));
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

/**
 * Mosquitto plus the attach bridge. The bridge's readiness signal is not settled yet; this waits for
 * its first log line that mentions being connected or listening, whichever it prints.
 */
export async function startAttach({ profileDir } = {}) {
  const mosquitto = await startMosquitto();
  const flags = ['--expose-gc', '--import', PROBE];
  if (profileDir) flags.push('--cpu-prof', `--cpu-prof-dir=${profileDir}`);
  const proc = spawn(process.execPath, [...flags, CLI, 'attach', '--broker', `mqtt://127.0.0.1:${mosquitto.port}`], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('attach bridge did not report ready')), 20_000);
    proc.once('exit', (code) => reject(new Error(`attach bridge exited with ${code}`)));
    proc.stdout.on('data', (chunk) => {
      if (/"msg":"[^"]*(connected|listening|attached|ready)/i.test(String(chunk))) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return {
    name: 'mosquitto + attach',
    port: mosquitto.port,
    memory: () => memoryOf(proc),
    stop: async () => {
      await stopProc(proc);
      await mosquitto.stop();
    },
  };
}

// Cluster targets for `npm run bench` (scenario `cluster`): a throwaway redis-server, and the product
// with `--redis` pointed at it. Figures: docs/cluster.md.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startProductWith } from './targets.mjs';

export function redisServerPath() {
  try {
    return execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** A redis-server on a free port with its files in a temp dir; `commands()` counts what it executed. */
export async function startRedisServer() {
  const dir = mkdtempSync(join(tmpdir(), 'bench-redis-'));
  const port = await freePort();
  const proc = spawn(redisServerPath(), ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (chunk) => (out += chunk).includes('Ready to accept connections') && resolve());
    proc.once('exit', (code) => reject(new Error(`redis-server exited with ${code}`)));
  });
  const cli = (...args) => execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' });
  return {
    url: `redis://127.0.0.1:${port}`,
    commands: () => Number(/total_commands_processed:(\d+)/.exec(cli('INFO', 'stats'))?.[1] ?? 0),
    flush: () => cli('FLUSHALL'),
    stop: () => {
      proc.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `presence-bridge serve --redis URL` as a bench target. */
export const productWithRedis = (redis) => (options) => startProductWith(['--redis', redis.url, '--node-id', 'bench'], { ...options, label: options.label ?? 'product-redis' });

/**
 * Two `serve --redis` nodes of one cluster as one bench target: `ports` for a generator that connects
 * round-robin, CPU of both nodes summed (each node's part kept), `pids` for the node-death row.
 */
export const twoNodes = (redis, extra = []) => async (options) => {
  const ids = ['bench-a', 'bench-b'];
  const nodes = await Promise.all(
    ids.map((id) => startProductWith(['--redis', redis.url, '--node-id', id, ...extra], { ...options, label: `${options.label ?? 'product-redis'}-${id}` })),
  );
  return {
    name: `2 x presence-bridge serve --redis ${extra.join(' ')}`.trim(),
    port: nodes[0].port,
    ports: nodes.map((n) => n.port),
    pids: nodes.map((n) => n.pid),
    cpu: async () => {
      const probes = await Promise.all(nodes.map((n) => n.memory()));
      return { total: probes.reduce((s, p) => s + p.cpuMs, 0), parts: Object.fromEntries(ids.map((id, i) => [id, probes[i].cpuMs])) };
    },
    stop: () => Promise.all(nodes.map((n) => n.stop())),
  };
};

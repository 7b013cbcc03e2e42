import { Redis } from 'ioredis';
import type { AttachConfig } from '../attach/config.js';
import { startAttach, type RunningBridge } from '../attach/start.js';
import { ConfigError } from '../config.js';
import type { Logger } from '../log/logger.js';
import { AttachLease } from './attach-lease.js';

/**
 * `attach --redis`: waits as a standby until it holds the lease, then runs the bridge, which starts by
 * resyncing from the broker's retained announcements (so it announces only real differences, such as
 * a loss that happened while no bridge was active). Loses the lease -> stops the bridge and stands by
 * again. Resolves to a stop function for SIGINT/SIGTERM.
 */
export async function runActiveStandby(config: AttachConfig, log: Logger): Promise<() => Promise<void>> {
  const redis = new Redis(config.redis!, { lazyConnect: true, retryStrategy: (times) => Math.min(times * 100, 2000) });
  redis.on('error', (error: Error) => log.debug('redis connection error', { error: error.message }));
  try {
    await redis.connect();
  } catch (error) {
    redis.disconnect();
    throw new ConfigError(`cannot reach Redis at ${config.redis}: ${(error as Error).message}; start redis-server or fix --redis`);
  }
  const lease = new AttachLease(redis, config.cluster, config.nodeTimeoutMs, log);
  let running: RunningBridge | undefined;
  let stopping = false;
  const loop = async (): Promise<void> => {
    while (!stopping) {
      await lease.acquire();
      if (stopping) return;
      running = await startAttach(config, log);
      const lost = new Promise<void>((resolve) => lease.hold(resolve));
      await lost;
      const bridge = running;
      running = undefined;
      await bridge.close();
    }
  };
  loop().catch((error: unknown) => {
    if (!stopping) log.error('attach: active/standby loop failed', { error: (error as Error).message });
  });
  return async () => {
    stopping = true;
    await running?.close();
    await lease.release();
    await redis.quit().catch(() => redis.disconnect());
  };
}

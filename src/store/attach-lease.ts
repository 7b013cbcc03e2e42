import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import type { Logger } from '../log/logger.js';

const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

/**
 * `attach --redis`: one active bridge per cluster, by a lease in Redis (`<cluster>:attach-lease`, a
 * value naming the holder, TTL --node-timeout). The holder renews it every min(500 ms, ttl/4); a
 * standby polls as often and takes it over once it expired, so within --node-timeout of the active
 * bridge's death. A holder that cannot renew for half the TTL (Redis away, or the lease taken) counts it
 * as lost and stops being active before anyone else can have it.
 */
export class AttachLease {
  readonly holder = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private readonly key: string;
  private readonly tickMs: number;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly redis: Redis,
    cluster: string,
    private readonly ttlMs: number,
    private readonly log: Logger,
  ) {
    this.key = `${cluster}:attach-lease`;
    this.tickMs = Math.max(50, Math.min(500, Math.floor(ttlMs / 4)));
  }

  /** Resolves once this process holds the lease (waits as a standby until then). */
  async acquire(): Promise<void> {
    let said = false;
    while (!this.stopped) {
      const got = await this.redis.set(this.key, this.holder, 'PX', this.ttlMs, 'NX').catch(() => null);
      if (got === 'OK') {
        this.log.info('attach: lease acquired, this bridge is active', { holder: this.holder });
        return;
      }
      if (!said) this.log.info('attach: standby, another bridge holds the lease', { holder: this.holder });
      said = true;
      await new Promise((resolve) => setTimeout(resolve, this.tickMs));
    }
    throw new Error('stopped');
  }

  /** Keeps the lease; calls `onLost` once if it cannot be kept (then renewing stops). */
  hold(onLost: () => void): void {
    let lastOk = Date.now();
    let busy = false;
    this.timer = setInterval(() => {
      if (Date.now() - lastOk > this.ttlMs / 2) {
        clearInterval(this.timer);
        this.log.error('attach: lease lost, this bridge stops being active', { holder: this.holder });
        return onLost();
      }
      if (busy) return;
      busy = true;
      this.redis
        .eval(RENEW, 1, this.key, this.holder, this.ttlMs)
        .then((renewed) => {
          if (renewed === 1) lastOk = Date.now();
          else lastOk = 0; // taken: lost at the next tick
        })
        .catch(() => {})
        .finally(() => (busy = false));
    }, this.tickMs);
    this.timer.unref();
  }

  /** Gives the lease up at once (graceful stop), so a standby takes over without waiting for the TTL. */
  async release(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.redis.eval(RELEASE, 1, this.key, this.holder).catch(() => {});
  }
}

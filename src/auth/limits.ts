/** The limits a client runs into, each with a clear refusal and a count of refusals by kind. */
export interface Limits {
  maxConnectionsPerUser: number;
  maxGroupsPerUser: number;
  maxMembersPerGroup: number;
  /** User-presence filters (`presence/user/...`) in one SUBSCRIBE packet: the client's batched watch. */
  maxUserIdsPerSubscribe: number;
  /** Largest MQTT packet accepted, in bytes (remaining length); a larger one closes the connection. */
  maxPacketBytes: number;
  /** CONNECTs per second allowed from one IP address, sustained... */
  connectRatePerIp: number;
  /** ...and in a burst. */
  connectBurstPerIp: number;
}

/**
 * Token buckets per key (IP address). Buckets that have refilled completely carry no information and are
 * swept, so memory is bounded by the number of addresses active within one refill period.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private lastSweep: number;

  constructor(
    private readonly ratePerSec: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    this.lastSweep = now();
  }

  /** Takes a token for `key`; false when the bucket is empty. A rate of 0 disables the limit. */
  take(key: string): boolean {
    if (this.ratePerSec <= 0) return true;
    const now = this.now();
    this.sweep(now);
    const bucket = this.buckets.get(key) ?? { tokens: this.burst, at: now };
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.ratePerSec);
    bucket.at = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  get size(): number {
    return this.buckets.size;
  }

  private sweep(now: number): void {
    const fullAfterMs = (this.burst / this.ratePerSec) * 1000;
    if (now - this.lastSweep < fullAfterMs) return;
    this.lastSweep = now;
    for (const [key, bucket] of this.buckets) if (now - bucket.at >= fullAfterMs) this.buckets.delete(key);
  }
}

import { RateLimiter } from '../auth/limits.js';
import { QueryCode, type QueryError } from './service.js';

/**
 * How many queries one asker may send: a token bucket per MQTT client id (over MQTT) or per source
 * address (over HTTP). A query beyond it is answered at once with code 429 and costs nothing more:
 * no parse beyond its id, no wait for the model, no read. Buckets that have refilled are swept (see
 * RateLimiter), so memory is bounded by the askers active within one refill period.
 */
export class QueryRateLimit {
  private readonly buckets: RateLimiter;

  /** `ratePerSec` 0 turns the limit off. */
  constructor(
    private readonly ratePerSec: number,
    burst: number,
    private readonly per: 'client' | 'address',
    now?: () => number,
  ) {
    this.buckets = new RateLimiter(ratePerSec, burst, now);
  }

  /** Takes a token for `key`; the 429 refusal when its bucket is empty. */
  take(key: string): QueryError | undefined {
    if (this.buckets.take(key)) return undefined;
    return { code: QueryCode.TOO_MANY_REQUESTS, content: `too many queries: over ${this.ratePerSec}/s per ${this.per}; retry later` };
  }
}

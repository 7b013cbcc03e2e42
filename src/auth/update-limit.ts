/** Default: data updates allowed per connection per minute (PRODUCT.md "Data updates"). */
export const DEFAULT_MAX_UPDATES_PER_MINUTE = 30;

const WINDOW_MS = 60_000;

/**
 * At most `max` data updates per connection in any 60 s (a sliding window: exact, unlike a token
 * bucket, which lets a full bucket and a minute's refill through within one minute). Keys are
 * connections (`<userId>/<clientId>`). A key whose last update left the window carries no information
 * and is swept once a window, so memory is bounded by the connections that updated in the last minute
 * (at most `max` timestamps each).
 */
export class UpdateLimiter {
  private readonly windows = new Map<string, number[]>();
  private lastSweep: number;

  /**
   * @param max updates per connection per minute; 0 turns the limit off.
   * @param now the clock (ms); tests drive it instead of sleeping.
   */
  constructor(
    readonly max: number = DEFAULT_MAX_UPDATES_PER_MINUTE,
    public now: () => number = Date.now,
  ) {
    this.lastSweep = now();
  }

  /** Counts one update for `key`; false (and nothing counted) when `max` already happened in the last minute. */
  take(key: string): boolean {
    if (this.max <= 0) return true;
    const now = this.now();
    this.sweep(now);
    const times = (this.windows.get(key) ?? []).filter((at) => now - at < WINDOW_MS);
    if (times.length >= this.max) {
      this.windows.set(key, times);
      return false;
    }
    times.push(now);
    this.windows.set(key, times);
    return true;
  }

  /** A human-readable refusal detail. */
  get detail(): string {
    return `more than ${this.max} updates in a minute from this connection`;
  }

  get size(): number {
    return this.windows.size;
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < WINDOW_MS) return;
    this.lastSweep = now;
    for (const [key, times] of this.windows) if (now - times[times.length - 1]! >= WINDOW_MS) this.windows.delete(key);
  }
}

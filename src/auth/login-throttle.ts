import { once } from './once.js';

/**
 * Failed logins, counted per account (the username a CONNECT claims, known or not) and per source address,
 * with an exponential back-off: once a key has used its free failures, further tries are refused for
 * `backoffMs`, then twice that, ... up to `backoffMaxMs`, WITHOUT a password check, so guessing costs
 * the server nothing and cannot starve other users' logins of the scrypt threads.
 *
 * Checks still running count against the free failures, so a burst of parallel guesses cannot slip past
 * the limit before the first of them fails. A successful login clears its account's failures (not its
 * address's). A key with no failure for `forgetAfterMs` is forgotten; at most `maxKeys` keys are kept
 * (the least recently failed go first), so memory is bounded whatever an attacker sends.
 */
export interface LoginThrottleOptions {
  /** Failures allowed per account before the back-off starts; 0 turns the per-account count off. */
  failuresPerAccount: number;
  /** Failures allowed per source address before the back-off starts; 0 turns it off. */
  failuresPerAddress: number;
  /** First back-off, in milliseconds; each further failure doubles it. */
  backoffMs: number;
  /** Longest back-off, in milliseconds. */
  backoffMaxMs: number;
  /** A key without failures for this long is forgotten (default: twice the longest back-off). */
  forgetAfterMs?: number;
  /** Most keys (accounts and addresses) remembered. */
  maxKeys?: number;
  now?: () => number;
}

export type ThrottleScope = 'account' | 'address';

/** A login under way: tell the throttle how it ended, once. */
export interface LoginAttempt {
  failed(): void;
  succeeded(): void;
  /** Neither (refused for another reason, or the check broke): only the running check is released. */
  released(): void;
}

export type Admission = { ok: true; attempt: LoginAttempt } | { ok: false; scope: ThrottleScope; retryAfterMs: number };

interface Entry {
  failures: number;
  inFlight: number;
  lastFailureAt: number;
  blockedUntil: number;
}

export class LoginThrottle {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;
  private readonly forgetAfterMs: number;
  private readonly maxKeys: number;

  constructor(private readonly options: LoginThrottleOptions) {
    this.now = options.now ?? Date.now;
    this.forgetAfterMs = options.forgetAfterMs ?? 2 * options.backoffMaxMs;
    this.maxKeys = options.maxKeys ?? 100_000;
  }

  /** Admits a password check for `account` from `address`, or says which back-off refuses it and for how long. */
  begin(account: string | undefined, address: string | undefined): Admission {
    const now = this.now();
    const keys: [ThrottleScope, string, number][] = [];
    if (account !== undefined && this.options.failuresPerAccount > 0) keys.push(['account', `u:${account}`, this.options.failuresPerAccount]);
    if (address !== undefined && this.options.failuresPerAddress > 0) keys.push(['address', `a:${address}`, this.options.failuresPerAddress]);
    for (const [scope, key, free] of keys) {
      const entry = this.fresh(key, now);
      if (!entry) continue;
      if (entry.blockedUntil > now) return { ok: false, scope, retryAfterMs: entry.blockedUntil - now };
      // Checks still running may all fail, so they count already; after a back-off, one try at a time.
      const allowance = entry.failures >= free ? 1 : free - entry.failures;
      if (entry.inFlight >= allowance) return { ok: false, scope, retryAfterMs: this.options.backoffMs };
    }
    const held = keys.map(([, key, free]) => [this.entry(key, now), free] as const);
    for (const [entry] of held) entry.inFlight++;
    const settle = once((fn: (entry: Entry, free: number, key: string) => void) => {
      held.forEach(([entry, free], i) => {
        entry.inFlight--;
        fn(entry, free, keys[i]![1]);
      });
    });
    return {
      ok: true,
      attempt: {
        failed: () =>
          settle((entry, free, key) => {
            const at = this.now();
            entry.failures++;
            entry.lastFailureAt = at;
            if (entry.failures >= free) entry.blockedUntil = at + this.delay(entry.failures + 1 - free);
            this.touch(key, entry);
          }),
        succeeded: () =>
          settle((entry, _free, key) => {
            if (key.startsWith('u:')) entry.failures = entry.blockedUntil = 0;
            this.dropIfIdle(key, entry);
          }),
        released: () => settle((entry, _free, key) => this.dropIfIdle(key, entry)),
      },
    };
  }

  /** Keys remembered (for tests and metrics). */
  get size(): number {
    return this.entries.size;
  }

  /** The back-off after the `n`-th failure beyond the free ones (n >= 1). */
  private delay(n: number): number {
    return Math.min(this.options.backoffMaxMs, this.options.backoffMs * 2 ** Math.min(n - 1, 40));
  }

  /** The live entry for a key, forgetting it first when it has been quiet long enough. */
  private fresh(key: string, now: number): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry && entry.inFlight === 0 && now - entry.lastFailureAt >= this.forgetAfterMs && entry.blockedUntil <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  private entry(key: string, now: number): Entry {
    let entry = this.fresh(key, now);
    if (!entry) {
      entry = { failures: 0, inFlight: 0, lastFailureAt: now, blockedUntil: 0 };
      this.touch(key, entry);
    }
    return entry;
  }

  /** Most recently failed last; beyond `maxKeys` the oldest idle key goes. */
  private touch(key: string, entry: Entry): void {
    this.entries.delete(key);
    this.entries.set(key, entry);
    if (this.entries.size <= this.maxKeys) return;
    for (const [oldKey, old] of this.entries) {
      if (old.inFlight > 0) continue;
      this.entries.delete(oldKey);
      break;
    }
  }

  private dropIfIdle(key: string, entry: Entry): void {
    if (entry.failures === 0 && entry.inFlight === 0 && this.entries.get(key) === entry) this.entries.delete(key);
  }
}

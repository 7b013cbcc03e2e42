import type { Logger } from './logger.js';
import type { Refusal } from './refusals.js';

/**
 * Refusals are what an attacker controls, so their log lines are rate limited: at most `perSecond`
 * lines a second per hook, and the next line after a quiet spell says how many were left out. The
 * refusal metric still counts every one.
 *
 * Each line carries the refusal's `code` (the closed set of src/log/refusals.ts, the same value the
 * metric's `reason` label has) and its `detail` as the `reason` field.
 */
export class RefusalLog {
  private windowStart = 0;
  private written = 0;
  private suppressed = 0;

  constructor(
    private readonly log: Logger,
    private readonly perSecond = 50,
    private readonly now: () => number = Date.now,
  ) {}

  warn(msg: string, refusal: Refusal, fields: Record<string, unknown> = {}): void {
    const now = this.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.written = 0;
    }
    if (this.written >= this.perSecond) {
      this.suppressed++;
      return;
    }
    this.written++;
    const line = { ...fields, code: refusal.code, reason: refusal.detail };
    if (this.suppressed > 0) {
      this.log.warn(msg, { ...line, suppressedBefore: this.suppressed });
      this.suppressed = 0;
    } else {
      this.log.warn(msg, line);
    }
  }
}

import type { Logger } from './logger.js';

/**
 * Refusals are what an attacker controls, so their log lines are rate limited: at most `perSecond`
 * lines a second per hook, and the next line after a quiet spell says how many were left out. The
 * refusal metric still counts every one.
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

  warn(msg: string, fields: Record<string, unknown>): void {
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
    if (this.suppressed > 0) {
      this.log.warn(msg, { ...fields, suppressedBefore: this.suppressed });
      this.suppressed = 0;
    } else {
      this.log.warn(msg, fields);
    }
  }
}

import type { Scheduler } from './scheduler.js';

/**
 * The grace window's timers (PRODUCT.md "Presence semantics"): at most one per user whose offline is held
 * back. The timer only says when to look again: the tracker's rule (`graceExpired` with the hold's
 * token) decides, so a timer that fires after the user came back changes nothing.
 */
export class GraceTimers {
  private readonly timers = new Map<string, unknown>();

  /** `ms`: the grace window's length in milliseconds. */
  constructor(
    private readonly scheduler: Scheduler,
    private readonly ms: number,
  ) {}

  /** Windows running now (one per user). */
  get size(): number {
    return this.timers.size;
  }

  /** Starts the user's window afresh (any earlier one is cancelled); `expire` runs when it ends. */
  hold(userId: string, expire: () => void): void {
    this.cancel(userId);
    const handle = this.scheduler.set(() => {
      this.timers.delete(userId);
      expire();
    }, this.ms);
    this.timers.set(userId, handle);
  }

  cancel(userId: string): void {
    const handle = this.timers.get(userId);
    if (handle === undefined) return;
    this.scheduler.clear(handle);
    this.timers.delete(userId);
  }

  /** Cancels every window and returns whose they were (at shutdown the offlines are announced at once). */
  cancelAll(): string[] {
    const users = [...this.timers.keys()];
    for (const userId of users) this.cancel(userId);
    return users;
  }
}

/**
 * Timers, injected so the model stays free of real time in its tests (test/fixtures/scheduler.ts drives
 * them by hand). `set` returns a handle that only `clear` of the same scheduler understands.
 */
export interface Scheduler {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export const realScheduler: Scheduler = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

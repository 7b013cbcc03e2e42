import type { Scheduler } from '../core/tracker.js';

/**
 * Time sources of the feed stages, given to startServer / startAttach: `scheduler` runs interval mode's
 * timers and webhook batching and backoff, `now` stamps webhook batches (ms since the epoch), `random`
 * draws the backoff jitter in [0, 1). In attach mode `scheduler` also runs the tracker's grace holds and the
 * takeover and rebirth windows. Tests inject their own to drive all of it deterministically.
 */
export interface FeedHooks {
  scheduler?: Scheduler;
  now?: () => number;
  random?: () => number;
}

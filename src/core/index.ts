export * from './events.js';
export * from '../protocol/ids.js';
export * from './store.js';
export { MemoryStore } from './memory-store.js';
export { PresenceTracker, realScheduler, type Scheduler, type TrackerOptions, type UserState } from './tracker.js';

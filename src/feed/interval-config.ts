import type { IntervalSettings } from './intervals.js';

/** Interval mode's configuration keys, the same for `serve` and `attach` (config file and flags). */
export type IntervalConfig = IntervalSettings;

export const DEFAULT_INTERVAL_CONFIG: IntervalConfig = {
  announceMax: 1000,
  intervalMs: 1000,
  intervalMaxIds: 100,
};

/** JSON Schema properties for the keys above, spread into each mode's config schema. */
export const INTERVAL_CONFIG_PROPERTIES = {
  announceMax: { type: 'integer', minimum: 0, maximum: 100_000_000, nullable: true },
  intervalMs: { type: 'integer', minimum: 10, maximum: 3_600_000, nullable: true },
  intervalMaxIds: { type: 'integer', minimum: 1, maximum: 100_000, nullable: true },
} as const;

/** Flags (both commands) -> config keys. */
export const INTERVAL_FLAGS = {
  'announce-max': { key: 'announceMax', kind: 'integer', description: 'above this many members a group gets interval events instead of per-member ones (0 = never)' },
  'interval-ms': { key: 'intervalMs', kind: 'integer', description: 'at most one interval event per group per this many milliseconds', arg: 'MS' },
  'interval-max-ids': { key: 'intervalMaxIds', kind: 'integer', description: 'ids listed in one interval event before it is truncated' },
} as const;

import { Counter, type Registry } from 'prom-client';
import type { IntervalEvent } from './intervals.js';

/**
 * Interval mode's counters, in the product's registry: interval events made, ids they listed, and
 * how many were cut at `--interval-max-ids`. Returns the hook for `IntervalOptions.onInterval`.
 */
export function intervalMetrics(registry: Registry): (event: IntervalEvent, listed: number) => void {
  const registers = [registry];
  const events = new Counter({ name: 'presence_interval_events_total', help: 'Interval events published for large groups', registers });
  const ids = new Counter({ name: 'presence_interval_ids_total', help: 'User ids listed in interval events (joined, left, online, offline)', registers });
  const cut = new Counter({ name: 'presence_interval_truncations_total', help: 'Interval events whose lists were cut at the id limit (truncated: true)', registers });
  return (event, listed) => {
    events.inc();
    ids.inc(listed);
    if (event.truncated) cut.inc();
  };
}

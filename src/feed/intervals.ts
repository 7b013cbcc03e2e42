import type { GroupEvent, PresenceEvent } from '../core/events.js';
import { realScheduler, type Scheduler } from '../core/tracker.js';
import type { IntervalEvent } from '../protocol/interval.js';

// The interval event's shape is part of the wire contract (src/protocol/interval.ts).
export type { IntervalEvent };

/** What leaves through the feed: the model's events and the interval events made from them. */
export type FeedEvent = PresenceEvent | { kind: 'interval'; event: IntervalEvent };

/** Interval mode's settings (docs/protocol.md "Large groups"). */
export interface IntervalSettings {
  /** A group with more members than this gets interval events; 0 turns interval mode off. */
  announceMax: number;
  /** Length of one interval, in milliseconds. */
  intervalMs: number;
  /** Most ids listed in one interval event, all lists together; beyond it `truncated: true`. */
  intervalMaxIds: number;
}

export interface IntervalOptions extends IntervalSettings {
  /**
   * A group's member count (online or not) as the store has it. Asked once per group, when the group
   * is first seen or seen again after being forgotten; joins and leaves keep the count after that.
   * Cluster seam: with a shared store, another node's joins are not seen here, so the node that
   * publishes a group's intervals must re-ask (docs/protocol.md).
   */
  memberCount: (groupId: string) => Promise<number>;
  scheduler?: Scheduler;
  now?: () => number;
  /** Told about each interval event handed on (metrics): ids listed, and whether the lists were cut. */
  onInterval?: (event: IntervalEvent, listed: number) => void;
  onError?: (error: unknown) => void;
}

/** What one user did in one group over the current interval: first state seen, and current state. */
interface Change {
  startMember: boolean;
  startOnline: boolean;
  endMember: boolean;
  endOnline: boolean;
  seq: number;
}

interface GroupWatch {
  /** Members right after the last event seen; undefined until the store answered. */
  members: number | undefined;
  /** Joins minus leaves seen while the store's answer was awaited. */
  unseeded: number;
  /** groupOnlineCount after the last event seen. */
  count: number;
  /** In interval mode: the changes of the current interval, by user. */
  pending: Map<string, Change> | undefined;
  /** groupOnlineCount when the current interval began. */
  startCount: number;
  /** An event was seen since the last tick (idle small groups are forgotten at a tick). */
  active: boolean;
}

/**
 * The interval stage of the feed: every event the model emits passes through it on its way to the
 * publisher (and whatever else consumes published events, such as webhooks). User events pass
 * unchanged. A group's events pass unchanged while it has at most `announceMax` members; while it has
 * more, they are absorbed and replaced by at most one `interval` event per `intervalMs` that has
 * changes, with each user's net change over the interval.
 *
 * Switching is decided per event, by the member count right after it, so each change is either passed
 * on by itself or counted in exactly one interval: when a group grows past the limit, its interval
 * starts with the event that took it there; when it shrinks back, the interval so far is published at
 * once, before the event that brought it down passes.
 *
 * Actions other than join, leave, online and offline (`update`, and any added later) change neither
 * membership nor online state: in interval mode they are absorbed and listed nowhere (the user's own
 * topic still carries them); they only refresh the group's count.
 */
export class IntervalAggregator {
  private readonly groups = new Map<string, GroupWatch>();
  private readonly scheduler: Scheduler;
  private readonly now: () => number;
  private timer: unknown;
  private closed = false;
  published = 0;
  listed = 0;
  truncations = 0;

  constructor(
    private readonly options: IntervalOptions,
    private readonly next: (events: FeedEvent[]) => void,
  ) {
    this.scheduler = options.scheduler ?? realScheduler;
    this.now = options.now ?? Date.now;
  }

  /** The stage: hands on what passes (in order), absorbs what interval mode replaces. */
  process(events: PresenceEvent[]): void {
    if (this.options.announceMax === 0 || !events.some((e) => e.kind === 'group')) return this.next(events);
    const out: FeedEvent[] = [];
    for (const item of events) {
      if (item.kind !== 'group') {
        out.push(item);
        continue;
      }
      const verdict = this.group(item.event);
      if (verdict === undefined) continue;
      if (verdict !== true) out.push({ kind: 'interval', event: verdict });
      out.push(item);
    }
    if (out.length > 0) this.next(out);
  }

  /** Publishes every pending interval now (a tick, or shutdown). */
  flush(): void {
    const out: FeedEvent[] = [];
    for (const [groupId, watch] of this.groups) {
      const event = this.close(groupId, watch);
      if (event) out.push({ kind: 'interval', event });
      if (!watch.pending && !watch.active) this.groups.delete(groupId);
      watch.active = false;
    }
    if (out.length > 0) this.next(out);
  }

  /** Publishes what is pending and stops the timer. */
  stop(): void {
    this.flush();
    this.closed = true;
    if (this.timer !== undefined) this.scheduler.clear(this.timer);
    this.timer = undefined;
  }

  /** true: pass the event on; an interval event: publish it, then the event; undefined: absorbed. */
  private group(event: GroupEvent): true | IntervalEvent | undefined {
    let watch = this.groups.get(event.groupId);
    if (!watch) {
      // The store is asked now, so its answer already counts this event (exact for the in-process
      // store, which the model calls in order and answers at once); later events are added to it.
      watch = { members: undefined, unseeded: 0, count: event.groupOnlineCount, pending: undefined, startCount: 0, active: true };
      this.groups.set(event.groupId, watch);
      this.seed(event.groupId, watch);
      this.arm();
      return true;
    }
    watch.active = true;
    const previousCount = watch.count;
    if (typeof event.groupOnlineCount === 'number') watch.count = event.groupOnlineCount;
    const delta = event.action === 'join' ? 1 : event.action === 'leave' ? -1 : 0;
    if (watch.members === undefined) watch.unseeded += delta;
    else watch.members += delta;
    const large = watch.members !== undefined && watch.members > this.options.announceMax;
    if (!large) {
      if (!watch.pending) return true;
      // Shrunk back: the interval so far first, then this event by itself.
      const closed = this.close(event.groupId, watch, previousCount);
      watch.pending = undefined;
      return closed ?? true;
    }
    if (!watch.pending) {
      watch.pending = new Map();
      watch.startCount = previousCount;
    }
    record(watch.pending, event, previousCount);
    return undefined;
  }

  private seed(groupId: string, watch: GroupWatch): void {
    this.options.memberCount(groupId).then(
      (members) => {
        if (this.groups.get(groupId) !== watch) return;
        watch.members = members + watch.unseeded;
        watch.unseeded = 0;
      },
      (error: unknown) => this.options.onError?.(error),
    );
  }

  /** Ends the group's current interval: its event when there was a net change, else undefined. */
  private close(groupId: string, watch: GroupWatch, endCount = watch.count): IntervalEvent | undefined {
    const pending = watch.pending;
    if (!pending || pending.size === 0) return undefined;
    watch.pending = new Map();
    const startCount = watch.startCount;
    watch.startCount = endCount;
    const lists = { joined: [] as string[], left: [] as string[], online: [] as string[], offline: [] as string[] };
    const seqs: Record<string, number> = {};
    let changed = 0;
    let truncated = false;
    for (const [id, c] of pending) {
      const list =
        !c.startMember && c.endMember ? lists.joined
        : c.startMember && !c.endMember ? lists.left
        : c.startMember && c.endMember && c.startOnline !== c.endOnline ? (c.endOnline ? lists.online : lists.offline)
        : undefined;
      if (!list) continue;
      changed++;
      if (changed > this.options.intervalMaxIds) {
        truncated = true;
        continue;
      }
      list.push(id);
      seqs[id] = c.seq;
    }
    if (changed === 0 && endCount === startCount) return undefined;
    const event: IntervalEvent = { groupId, action: 'interval', groupOnlineCount: endCount, time: this.now(), ...lists, seqs };
    if (truncated) event.truncated = true;
    const listed = Math.min(changed, this.options.intervalMaxIds);
    this.published++;
    this.listed += listed;
    if (truncated) this.truncations++;
    this.options.onInterval?.(event, listed);
    return event;
  }

  private arm(): void {
    if (this.timer !== undefined || this.closed) return;
    this.timer = this.scheduler.set(() => {
      this.timer = undefined;
      this.flush();
      if (this.groups.size > 0) this.arm();
    }, this.options.intervalMs);
  }
}

/** Folds one group event into a user's change over the interval. */
function record(pending: Map<string, Change>, event: GroupEvent, previousCount: number): void {
  const countDelta = event.groupOnlineCount - previousCount;
  let change = pending.get(event.id);
  switch (event.action) {
    case 'join':
      change ??= { startMember: false, startOnline: false, endMember: false, endOnline: false, seq: 0 };
      change.endMember = true;
      change.endOnline = countDelta > 0;
      break;
    case 'leave':
      change ??= { startMember: true, startOnline: countDelta < 0, endMember: true, endOnline: countDelta < 0, seq: 0 };
      change.endMember = false;
      change.endOnline = false;
      break;
    case 'online':
      change ??= { startMember: true, startOnline: false, endMember: true, endOnline: false, seq: 0 };
      change.endOnline = true;
      break;
    case 'offline':
      change ??= { startMember: true, startOnline: true, endMember: true, endOnline: true, seq: 0 };
      change.endOnline = false;
      break;
    default:
      // update (data only) and actions this version does not know: no membership or online change.
      if (change) change.seq = Math.max(change.seq, event.seq);
      return;
  }
  change.seq = Math.max(change.seq, typeof event.seq === 'number' ? event.seq : 0);
  pending.set(event.id, change);
}

export type { FeedHooks } from './hooks.js';

/** What an edge hands over to build its interval stage; the member count comes from its tracker. */
export interface IntervalStageOptions extends IntervalSettings {
  scheduler?: Scheduler;
  onInterval?: (event: IntervalEvent, listed: number) => void;
  onError?: (error: unknown) => void;
}

/** The interval stage between a tracker and what publishes its events. */
export function intervalStage(
  options: IntervalStageOptions,
  groupSize: (groupId: string) => Promise<number>,
  next: (events: FeedEvent[]) => void,
): IntervalAggregator {
  return new IntervalAggregator({ ...options, memberCount: groupSize }, next);
}

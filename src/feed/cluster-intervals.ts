import type { GroupEvent, PresenceEvent } from '../core/events.js';
import { realScheduler, type Scheduler } from '../core/tracker.js';
import type { IntervalRelay } from '../store/interval-relay.js';
import type { FeedEvent, IntervalEvent, IntervalStageOptions } from './intervals.js';

/** How long a stopping node tries to publish its last intervals (ms). */
const STOP_WAIT_MS = 2000;

/** What an edge needs of its interval stage: events in, and a stop that publishes what is pending. */
export interface FeedStage {
  process(events: PresenceEvent[]): void;
  stop(): void | Promise<void>;
}

export interface ClusterIntervalOptions extends IntervalStageOptions {
  relay: Pick<IntervalRelay, 'forward' | 'lease' | 'release' | 'openGroups' | 'take' | 'acknowledge'>;
  /** Resolves once what was handed to `next` has left for the broker (the publisher drained). */
  delivered: () => Promise<void>;
  now?: () => number;
}

/**
 * The interval stage of a cluster node (`serve --redis`; docs/cluster.md "Large groups in a cluster").
 * Each group event this node makes is offered to the relay in Redis, which keeps it for the interval
 * leader when the group is in interval mode cluster-wide; the rest pass on unchanged, in order. The node
 * holding the leader lease closes every open group's interval each `intervalMs` and publishes one
 * interval event per group with a net change, listing the cluster's changes with the cluster-wide
 * count. A leader that dies leaves its lease to expire (--node-timeout) and its queues in Redis.
 */
export class ClusterIntervals implements FeedStage {
  private tail: Promise<void> = Promise.resolve();
  private timer: unknown;
  private round: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly scheduler: Scheduler;
  private readonly now: () => number;

  constructor(
    private readonly options: ClusterIntervalOptions,
    private readonly next: (events: FeedEvent[]) => void,
  ) {
    this.scheduler = options.scheduler ?? realScheduler;
    this.now = options.now ?? Date.now;
    if (options.announceMax > 0) this.arm();
  }

  /** Hands on, in order, every event that is not kept for the leader. */
  process(events: PresenceEvent[]): void {
    const groups = this.options.announceMax > 0 ? events.filter((e) => e.kind === 'group').map((e) => e.event as GroupEvent) : [];
    // When Redis does not answer, the node publishes its events itself: nothing is lost.
    const verdicts = groups.length === 0 ? Promise.resolve([]) : this.options.relay.forward(groups, this.options.announceMax).catch((error: unknown) => {
      this.options.onError?.(error);
      return groups.map(() => false);
    });
    this.tail = this.tail
      .then(() => verdicts)
      .then((kept) => {
        let i = 0;
        const out = events.filter((e) => e.kind !== 'group' || !kept[i++]);
        if (out.length > 0) this.next(out);
      })
      .catch((error: unknown) => this.options.onError?.(error));
  }

  /** Publishes what is pending (as leader, when this node can take the lease) and gives the lease up. */
  async stop(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) this.scheduler.clear(this.timer);
    this.timer = undefined;
    if (this.options.announceMax === 0) return this.tail;
    // Bounded: a node stopping while Redis is away leaves what is queued to the next leader.
    let timer: NodeJS.Timeout | undefined;
    const giveUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, STOP_WAIT_MS)));
    const last = (async () => {
      await this.tail;
      await this.round;
      if (await this.options.relay.lease()) await this.closeIntervals();
      await this.options.relay.release();
    })().catch((error: unknown) => this.options.onError?.(error));
    await Promise.race([last, giveUp]);
    clearTimeout(timer);
  }

  /** Resolves once every event processed so far was handed on or kept for the leader. */
  settled(): Promise<void> {
    return this.tail;
  }

  private arm(): void {
    if (this.closed) return;
    this.timer = this.scheduler.set(() => {
      this.round = this.boundary().finally(() => this.arm());
    }, this.options.intervalMs);
  }

  /** One interval boundary: as leader (taking or renewing the lease), close every open interval. The timer calls it. */
  async boundary(): Promise<void> {
    try {
      if (await this.options.relay.lease()) await this.closeIntervals();
    } catch (error) {
      this.options.onError?.(error);
    }
  }

  /** Leader only: one interval event per open group with something to say. */
  private async closeIntervals(): Promise<void> {
    const { relay, announceMax, intervalMaxIds } = this.options;
    for (const groupId of await relay.openGroups()) {
      const taken = await relay.take(groupId, announceMax, intervalMaxIds);
      if (!taken) continue;
      const event: IntervalEvent = { groupId, action: 'interval', groupOnlineCount: taken.groupOnlineCount, time: this.now(), ...taken.lists, seqs: taken.seqs };
      if (taken.truncated) event.truncated = true;
      this.next([{ kind: 'interval', event }]);
      this.options.onInterval?.(event, Math.min(taken.changed, intervalMaxIds));
      await this.options.delivered();
      await relay.acknowledge(groupId);
    }
  }
}

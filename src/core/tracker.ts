import type { ConnectionDown, ConnectionUp, DataUpdate, OfflineReason, PresenceEvent } from './events.js';
import type { UserData, UserSnapshot, UpdateResult } from './events.js';
import { MemoryStore } from './memory-store.js';
import { StoreConflict, type GroupPage, type PresenceStore, type StoreStats, type UserRecord } from './store.js';
import { ChangeQueue, OrderedRelease } from './change-queue.js';
import { GraceTimers } from './grace-timers.js';
import { realScheduler, type Scheduler } from './scheduler.js';
import * as rules from './transitions.js';
import { eventsOf } from './events-of.js';

export { realScheduler, type Scheduler } from './scheduler.js';

/** Compare-and-set retries of one change before it is reported as failed (heavy contention on one user). */
const MAX_COMMIT_ATTEMPTS = 100;

export interface TrackerOptions {
  store?: PresenceStore;
  /** Hold an offline back this long; dropped entirely if the user is back in time. */
  graceMs?: number;
  now?: () => number;
  scheduler?: Scheduler;
  /** Server-side data for a user (a user list); when it answers, it wins over what clients declare. */
  trustedData?: (userId: string) => UserData | undefined;
  /** Receives every event, in the order the changes happened. Called synchronously. */
  onEvents?: (events: PresenceEvent[]) => void;
  onError?: (error: unknown) => void;
  /**
   * Cluster node this tracker runs on: stamped on the connections it brings up, and required of the
   * ones it ends, so a late disconnect after a cross-node takeover ends nothing (src/cluster/).
   */
  nodeId?: string;
  /**
   * `serial` (default): one queue for all changes. `per-user`: changes of different users overlap, for
   * a store where a change costs round trips; its commits must take effect in the order they are called
   * (see change-queue.ts). Events leave in commit order either way.
   */
  concurrency?: 'serial' | 'per-user';
}

export interface UserState {
  id: string;
  online: boolean;
  /** The seq of the user's last event. */
  seq: number;
  data: UserData;
  connections: number;
  groups: string[];
  /** When the user last went offline (ms since the epoch), if it ever did. */
  lastSeen?: number;
}

/**
 * The presence model: fed normalized signals, it keeps state in its store and emits events.
 * A user's changes run one at a time (by default every change of the process does; `concurrency`), and
 * events leave in exactly the order their changes were committed, so each group count is the count
 * right after its event, whatever the store's latency.
 */
export class PresenceTracker {
  readonly store: PresenceStore;
  private readonly graceMs: number;
  private readonly grace: GraceTimers;
  private readonly now: () => number;
  private readonly trustedData: (userId: string) => UserData | undefined;
  private onEvents: (events: PresenceEvent[]) => void;
  private readonly onError: (error: unknown) => void;
  private readonly queue: ChangeQueue;
  private readonly released: OrderedRelease<PresenceEvent[]>;
  private lastSeq = 0;
  // Grace tokens are compared across the nodes of a cluster: start each process somewhere random.
  private nextToken = 1 + Math.floor(Math.random() * 2 ** 40);
  private readonly nodeId: string | undefined;

  constructor(options: TrackerOptions = {}) {
    this.store = options.store ?? new MemoryStore();
    this.graceMs = options.graceMs ?? 0;
    this.now = options.now ?? Date.now;
    this.grace = new GraceTimers(options.scheduler ?? realScheduler, this.graceMs);
    this.trustedData = options.trustedData ?? (() => undefined);
    this.onEvents = options.onEvents ?? (() => {});
    this.onError = options.onError ?? ((error) => console.error(error));
    this.nodeId = options.nodeId;
    this.queue = new ChangeQueue(options.concurrency ?? 'serial', (error) => this.onError(error));
    this.released = new OrderedRelease((events) => this.onEvents(events), (error) => this.onError(error));
  }

  /** Where events go; the edges (broker adapter, bridge) set this once. */
  setEventSink(sink: (events: PresenceEvent[]) => void): void {
    this.onEvents = sink;
  }

  connectionUp(up: ConnectionUp): Promise<void> {
    if (this.nodeId !== undefined && up.node === undefined) up = { ...up, node: this.nodeId };
    return this.change(up.userId, (record, now) => rules.connectionUp(record, up, now, this.trustedData(up.userId)));
  }

  connectionDown(down: ConnectionDown): Promise<void> {
    if (this.nodeId !== undefined && down.node === undefined) down = { ...down, node: this.nodeId };
    return this.change(down.userId, (record) =>
      rules.connectionDown(record, down, this.graceMs > 0 ? this.nextToken++ : undefined),
    );
  }

  /**
   * A connection's new data (see `rules.update`). Resolves, once applied and emitted, to what became of
   * it: `updated`, `unchanged`, or a refusal `{code, detail}` (not connected, stale epoch, trusted data).
   */
  async update(change: DataUpdate): Promise<UpdateResult> {
    let result: UpdateResult = { ok: false, code: 'not_connected', detail: 'the change was not applied' };
    await this.change(change.userId, (record) => {
      const transition = rules.update(record, change, this.trustedData(change.userId));
      if (transition.refused) result = { ok: false, ...transition.refused };
      else result = { ok: true, status: transition.announce ? 'updated' : 'unchanged' };
      return transition.refused ? undefined : transition;
    });
    return result;
  }

  join(userId: string, groupId: string): Promise<void> {
    return this.change(userId, (record) => rules.join(record, userId, groupId));
  }

  leave(userId: string, groupId: string): Promise<void> {
    return this.change(userId, (record) => rules.leave(record, userId, groupId));
  }

  /**
   * Replaces what is known about one user with a snapshot of the truth (connections, memberships),
   * announcing only the differences; see `rules.resync`. Used by the bridge after (re)connecting.
   */
  resync(snapshot: UserSnapshot, reason: OfflineReason = 'vanished'): Promise<void> {
    return this.change(snapshot.userId, (record, now) =>
      rules.resync(record, snapshot, now, this.trustedData(snapshot.userId), reason),
    );
  }

  /**
   * Cluster: finishes an offline that node `from` held back and can no longer announce (it was declared
   * down, or this is its restart): now if the grace window has run out, else when it does, on this
   * node's timer. See `rules.adoptHeldOffline`.
   */
  adoptHeldOffline(userId: string, from: string): Promise<void> {
    return this.change(userId, (record, now) => rules.adoptHeldOffline(record, from, this.nodeId ?? from, now));
  }

  /**
   * Announces every offline still held back by a grace window, now. Used at shutdown, when nobody
   * will be around to announce them later.
   */
  async flushGrace(): Promise<void> {
    const pending = this.grace.cancelAll();
    await Promise.all(
      pending.map((userId) =>
        this.change(userId, (record) =>
          // in a cluster, only the holds of this node
          record?.pendingOffline && [undefined, this.nodeId].includes(record.pendingOffline.node) ? rules.graceExpired(record, record.pendingOffline.token) : undefined,
        ),
      ),
    );
  }

  /** Resolves once every change queued so far has been applied and emitted. */
  settled(): Promise<void> {
    return this.queue.settled();
  }

  async user(userId: string): Promise<UserState | undefined> {
    const record = await this.store.getUser(userId);
    return record && toUserState(record);
  }

  async users(userIds: readonly string[]): Promise<(UserState | undefined)[]> {
    const records = await this.store.getUsers(userIds);
    return records.map((record) => record && toUserState(record));
  }

  groupPage(groupId: string, limit: number, offset: number): Promise<GroupPage> {
    return this.store.groupPage(groupId, limit, offset);
  }

  groupOnlineCounts(groupIds: readonly string[]): Promise<Map<string, number>> {
    return this.store.groupOnlineCounts(groupIds);
  }

  stats(): Promise<StoreStats> {
    return this.store.stats();
  }

  private change(
    userId: string,
    rule: (record: UserRecord | undefined, now: number) => rules.Transition | undefined,
  ): Promise<void> {
    return this.queue.run(userId, () => this.apply(userId, rule));
  }

  private async apply(
    userId: string,
    rule: (record: UserRecord | undefined, now: number) => rules.Transition | undefined,
  ): Promise<void> {
    // A store shared with other nodes refuses a commit computed from a record that changed meanwhile:
    // load again and re-apply the rule, so no node's change is ever lost.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.applyOnce(userId, rule, attempt === 1);
      } catch (error) {
        if (!(error instanceof StoreConflict) || attempt >= MAX_COMMIT_ATTEMPTS) throw error;
      }
    }
  }

  private async applyOnce(
    userId: string,
    rule: (record: UserRecord | undefined, now: number) => rules.Transition | undefined,
    mayStartFromKnown: boolean,
  ): Promise<void> {
    // A shared store may offer the record this process last knew: no read; its commit checks it is current.
    const known = mayStartFromKnown ? this.store.lastKnown?.(userId) : undefined;
    const current = known ?? (await this.store.getUser(userId));
    const now = this.now();
    const transition = rule(current, now);
    if (!transition || (transition.record === current && !transition.announce)) {
      // Nothing to do by what this process knew; the user may have changed elsewhere since: read.
      if (known) return this.applyOnce(userId, rule, false);
      return;
    }
    const { announce } = transition;
    let record = transition.record;
    if (transition.holdOffline !== undefined && record.pendingOffline && this.nodeId !== undefined) {
      // Cluster: who holds the window and until when, so a survivor can finish it if this node dies.
      record = { ...record, pendingOffline: { until: now + this.graceMs, ...record.pendingOffline, node: this.nodeId } };
    }
    if (announce) {
      const seqs: number[] = [];
      const count = (announce.user ? 1 : 0) + announce.groups.length;
      let seq = record.seq;
      for (let i = 0; i < count; i++) {
        seq = this.nextSeq(seq, now);
        seqs.push(seq);
      }
      record = { ...record, seq };
      // lastSeen is the time of the user's last offline event, stamped like `time` and `seq`.
      if (announce.user?.action === 'offline') record.lastSeen = now;
      // The slot is taken right before the commit is called: events leave in commit order.
      const release = this.released.reserve();
      let events: PresenceEvent[] | undefined;
      try {
        const counts = await this.store.commit(record, transition.touched, current);
        events = eventsOf(record, announce, counts, now, seqs);
      } finally {
        release(events);
      }
    } else {
      await this.store.commit(record, transition.touched, current);
    }
    const token = transition.holdOffline;
    if (token !== undefined) {
      // In a cluster the window may be what is left of a dead node's (rules.adoptHeldOffline).
      const until = record.pendingOffline?.until;
      const ms = until === undefined ? undefined : Math.max(0, until - now);
      this.grace.hold(userId, () => void this.change(userId, (held) => rules.graceExpired(held, token)), ms);
    } else if (!record.pendingOffline) this.grace.cancel(userId);
  }

  /**
   * seq is a hybrid clock: never below the wall clock in microseconds, always above the user's last
   * and this process's last. So it keeps rising across restarts and record evictions without
   * remembering every user ever seen.
   */
  private nextSeq(previous: number, now: number): number {
    this.lastSeq = Math.max(previous + 1, this.lastSeq + 1, now * 1000);
    return this.lastSeq;
  }

}

function toUserState(record: UserRecord): UserState {
  return {
    id: record.id,
    online: record.online,
    seq: record.seq,
    data: record.data,
    connections: Object.keys(record.connections).length,
    groups: [...record.groups],
    ...(record.lastSeen !== undefined ? { lastSeen: record.lastSeen } : {}),
  };
}

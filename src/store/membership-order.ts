import { LRUCache } from 'lru-cache';
import type { Membership } from '../auth/policy.js';

/** One membership fact: `userId` is (`member`) or is not a member of `groupId` as of the user's `seq`. */
export interface MembershipChange {
  userId: string;
  groupId: string;
  seq: number;
  member: boolean;
}

/** How many leaves (user, group) are remembered one by one, and how many users' floors (see below). */
export const MAX_TOMBSTONES = 100_000;
export const MAX_FLOORS = 100_000;

/**
 * Applies membership facts to the policy's `Membership` in the order of each user's `seq`, whatever
 * order they arrive in (a cluster: each node publishes its own joins and leaves; docs/cluster.md,
 * "Memberships on every node"). A fact applies only if its seq is above the last one applied for that
 * (user, group): so a join that arrives after a later leave adds nothing, and a fact seen twice (this
 * node's own, echoed back) changes nothing.
 *
 * The last seq per (user, group) is kept with the membership while it lasts, and as a tombstone after
 * a leave. Tombstones are bounded (`MAX_TOMBSTONES`, least recently written dropped first): a dropped
 * one raises its user's floor, one number per user (`MAX_FLOORS`, likewise bounded), which every group
 * of that user without an entry falls back to. A snapshot of a user's record (its `seq`, its groups)
 * sets the floor too: nothing at or below it can be news. What the bounds give up: a fact that arrives
 * after its tombstone AND its user's floor were dropped (over 100,000 newer leaves, resp. users, later)
 * is applied as if new; one of another group at or below a raised floor is ignored (a refused watch or
 * join until the user's next change of that group, or the next snapshot).
 */
export class OrderedMembership {
  private readonly live = new Map<string, Map<string, number>>();
  private readonly tombstones: LRUCache<string, number>;
  private readonly floors: LRUCache<string, number>;

  constructor(
    private readonly membership: Membership,
    bounds: { tombstones?: number; floors?: number } = {},
  ) {
    this.floors = new LRUCache<string, number>({ max: bounds.floors ?? MAX_FLOORS });
    this.tombstones = new LRUCache<string, number>({
      max: bounds.tombstones ?? MAX_TOMBSTONES,
      dispose: (seq, key, reason) => {
        if (reason === 'evict') this.raiseFloor(key.slice(0, key.indexOf('\0')), seq);
      },
    });
  }

  /** Applies `change` if it is news; true when it was. */
  apply(change: MembershipChange): boolean {
    const { userId, groupId, seq, member } = change;
    if (seq <= this.last(userId, groupId)) return false;
    const key = `${userId}\0${groupId}`;
    if (member) {
      let groups = this.live.get(userId);
      if (!groups) this.live.set(userId, (groups = new Map()));
      groups.set(groupId, seq);
      this.tombstones.delete(key);
      this.membership.add(userId, groupId);
    } else {
      const groups = this.live.get(userId);
      groups?.delete(groupId);
      if (groups?.size === 0) this.live.delete(userId);
      this.tombstones.set(key, seq);
      this.membership.remove(userId, groupId);
    }
    return true;
  }

  /**
   * The user's record as read from the store: member of exactly `groups` as of `seq`. Groups this
   * mirror holds with an older seq and the record lacks are left; newer facts stay as they are.
   */
  snapshot(userId: string, seq: number, groups: readonly string[]): void {
    for (const groupId of groups) this.apply({ userId, groupId, seq, member: true });
    const wanted = new Set(groups);
    for (const groupId of [...(this.live.get(userId)?.keys() ?? [])]) {
      if (!wanted.has(groupId)) this.apply({ userId, groupId, seq, member: false });
    }
    this.raiseFloor(userId, seq);
  }

  /** The seq of the last fact applied for (user, group), or the floor below which nothing is news. */
  last(userId: string, groupId: string): number {
    const live = this.live.get(userId)?.get(groupId);
    if (live !== undefined) return live;
    return Math.max(this.tombstones.get(`${userId}\0${groupId}`) ?? 0, this.floors.get(userId) ?? 0);
  }

  private raiseFloor(userId: string, seq: number): void {
    if (seq > (this.floors.get(userId) ?? 0)) this.floors.set(userId, seq);
  }
}

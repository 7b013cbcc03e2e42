import type { PresenceEvent } from '../core/events.js';

/**
 * Who is watching: the authenticated user behind a connection. `anonymous` is true when no
 * authentication is configured (the client id or a claimed username stands in, unproven).
 */
export interface Viewer {
  userId: string;
  clientId: string;
  anonymous: boolean;
}

/**
 * Authorization of watching. Both checks run on SUBSCRIBE (exact topics) and again on every delivery,
 * including retained ones, so they must be synchronous and cheap: they read in-memory state only.
 */
export interface WatchPolicy {
  readonly name: string;
  mayWatchUser(viewer: Viewer, userId: string): boolean;
  mayWatchGroup(viewer: Viewer, groupId: string): boolean;
}

/** What a policy may consult. */
export interface PolicyContext {
  membership: Membership;
  /** Groups a user may join, from the users file or the user's latest token; undefined when unknown. */
  allowedGroups(userId: string): readonly string[] | undefined;
}

export type PolicyFactory = (context: PolicyContext) => WatchPolicy;

/**
 * A synchronous, read-only mirror of group membership for the policy and the limits, fed only by the
 * tracker's join/leave events (`apply`): the tracker's store is the one owner of membership. In a
 * cluster it is fed with every node's, ordered by seq, and loaded from Redis at start
 * (src/store/membership-feed.ts). Joins authorized but not yet applied are counted apart, as
 * reservations (join-reservations.ts).
 */
export class Membership {
  private readonly groupsOf = new Map<string, Set<string>>();
  private readonly membersOf = new Map<string, Set<string>>();

  apply(events: readonly PresenceEvent[]): void {
    for (const e of events) {
      if (e.kind !== 'group') continue;
      if (e.event.action === 'join') this.add(e.event.id, e.event.groupId);
      else if (e.event.action === 'leave') this.remove(e.event.id, e.event.groupId);
    }
  }

  add(userId: string, groupId: string): void {
    setOf(this.groupsOf, userId).add(groupId);
    setOf(this.membersOf, groupId).add(userId);
  }

  remove(userId: string, groupId: string): void {
    deleteFrom(this.groupsOf, userId, groupId);
    deleteFrom(this.membersOf, groupId, userId);
  }

  isMember(userId: string, groupId: string): boolean {
    return this.groupsOf.get(userId)?.has(groupId) ?? false;
  }

  groupCount(userId: string): number {
    return this.groupsOf.get(userId)?.size ?? 0;
  }

  memberCount(groupId: string): number {
    return this.membersOf.get(groupId)?.size ?? 0;
  }

  sharesGroup(a: string, b: string): boolean {
    const ga = this.groupsOf.get(a);
    const gb = this.groupsOf.get(b);
    if (!ga || !gb) return false;
    const [small, large] = ga.size <= gb.size ? [ga, gb] : [gb, ga];
    for (const g of small) if (large.has(g)) return true;
    return false;
  }
}

function setOf(map: Map<string, Set<string>>, key: string): Set<string> {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  return set;
}

function deleteFrom(map: Map<string, Set<string>>, key: string, value: string): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) map.delete(key);
}

/** `open`: anyone the server accepted watches anyone. */
export const openPolicy: PolicyFactory = () => ({
  name: 'open',
  mayWatchUser: () => true,
  mayWatchGroup: () => true,
});

/**
 * `shared-group`: a user's presence is visible to users it shares a group with (current membership,
 * or both users' allowed-group lists overlapping, so a watch set up before the other user reconnects
 * after a restart still works); a group's presence only to its members. Everyone sees themselves.
 */
export const sharedGroupPolicy: PolicyFactory = ({ membership, allowedGroups }) => ({
  name: 'shared-group',
  mayWatchUser: (viewer, userId) =>
    viewer.userId === userId || membership.sharesGroup(viewer.userId, userId) || overlap(allowedGroups(viewer.userId), allowedGroups(userId)),
  mayWatchGroup: (viewer, groupId) => membership.isMember(viewer.userId, groupId),
});

function overlap(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (!a || !b) return false;
  const set = new Set(a);
  return b.some((g) => set.has(g));
}

export const BUILT_IN_POLICIES: Record<string, PolicyFactory> = { open: openPolicy, 'shared-group': sharedGroupPolicy };

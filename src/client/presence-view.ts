import type { GroupPresenceEvent, UserPresenceEvent } from './types.js';

/**
 * `change`: deliver to handlers. `snapshot`: the first state learned for a user, from a retained
 * message; it fills `presenceOf` but is not a transition. `stale`: a duplicate or an overtaken event.
 * `ignored`: about a user or group that is not watched (a late message after unsubscribing).
 */
export type Verdict = 'change' | 'snapshot' | 'stale' | 'ignored';

/**
 * The client's knowledge of presence, with no I/O: which users and groups are watched, each watched
 * user's latest event, and the last seq seen per group member. `seq` only grows for a user, so any
 * event at or below what was seen is stale: a QoS 1 redelivery, the retained message sent again on a
 * re-subscription after a reconnect, or a retained state that a live event already overtook.
 * User and group events are tracked apart: a user's group events carry seqs above its user event,
 * and the retained user event is still the user's current state.
 */
export class PresenceView {
  /** Watched users; undefined until their state is known. */
  private readonly users = new Map<string, UserPresenceEvent | undefined>();
  /** Watched groups: member id -> last seq. */
  private readonly groups = new Map<string, Map<string, number>>();

  watchUsers(ids: readonly string[]): string[] {
    const added: string[] = [];
    for (const id of ids) {
      if (this.users.has(id)) continue;
      this.users.set(id, undefined);
      added.push(id);
    }
    return added;
  }

  /** Forgets the users, including what was known: a later watch starts from a fresh snapshot. */
  unwatchUsers(ids: readonly string[]): void {
    for (const id of ids) this.users.delete(id);
  }

  watchGroups(ids: readonly string[]): string[] {
    const added: string[] = [];
    for (const id of ids) {
      if (this.groups.has(id)) continue;
      this.groups.set(id, new Map());
      added.push(id);
    }
    return added;
  }

  unwatchGroups(ids: readonly string[]): void {
    for (const id of ids) this.groups.delete(id);
  }

  get watchedUsers(): string[] {
    return [...this.users.keys()];
  }

  get watchedGroups(): string[] {
    return [...this.groups.keys()];
  }

  /** The latest known event of a watched user, undefined when unknown or not watched. */
  presenceOf(id: string): UserPresenceEvent | undefined {
    return this.users.get(id);
  }

  user(event: UserPresenceEvent, retained: boolean): Verdict {
    if (!this.users.has(event.id)) return 'ignored';
    const known = this.users.get(event.id);
    if (known && event.seq <= known.seq) return 'stale';
    this.users.set(event.id, event);
    return retained && !known ? 'snapshot' : 'change';
  }

  group(event: GroupPresenceEvent): Verdict {
    const members = this.groups.get(event.groupId);
    if (!members) return 'ignored';
    const last = members.get(event.id);
    if (last !== undefined && event.seq <= last) return 'stale';
    members.set(event.id, event.seq);
    return 'change';
  }
}

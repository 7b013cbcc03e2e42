import type { GroupMember, GroupPresenceEvent, GroupRoster, UserPresenceEvent } from './types.js';

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
  /** Watched groups: the last seq seen per member, and the roster known so far. */
  private readonly groups = new Map<string, GroupState>();

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
      this.groups.set(id, { lastSeq: new Map(), members: new Map(), onlineCount: undefined, complete: false });
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
    const state = this.groups.get(event.groupId);
    if (!state) return 'ignored';
    const last = state.lastSeq.get(event.id);
    if (last !== undefined && event.seq <= last) return 'stale';
    state.lastSeq.set(event.id, event.seq);
    state.onlineCount = event.groupOnlineCount;
    if (event.action === 'leave') state.members.delete(event.id);
    else state.members.set(event.id, rosterEntry(event));
    return 'change';
  }

  /**
   * Seeds a watched group's roster from a groupHereNow page. Each listed member's seq becomes the
   * floor below which its events are stale (the page already reflects them). A page that holds every
   * member (from offset 0, nothing left out) makes the roster complete: whoever it does not list is
   * not a member. The page reflects every event received before it was asked for, so it never goes
   * back behind what the roster had; an entry older than what is known is skipped all the same.
   */
  seedGroup(page: GroupPage): void {
    const state = this.groups.get(page.groupId);
    if (!state) return;
    const whole = page.offset === 0 && page.members.length >= page.total;
    if (whole) {
      const listed = new Set(page.members.map((m) => m.id));
      for (const id of state.members.keys()) if (!listed.has(id)) state.members.delete(id);
      state.complete = true;
    }
    for (const member of page.members) {
      const last = state.lastSeq.get(member.id);
      if (last !== undefined && member.seq < last) continue;
      state.lastSeq.set(member.id, member.seq);
      const entry: GroupMember = { id: member.id, online: member.online, data: member.data, seq: member.seq };
      if (member.lastSeen !== undefined) entry.lastSeen = member.lastSeen;
      state.members.set(member.id, entry);
    }
    state.onlineCount = page.onlineCount;
  }

  /** A watched group's roster: members known from a groupHereNow snapshot and the events since. */
  roster(groupId: string): GroupRoster | undefined {
    const state = this.groups.get(groupId);
    if (!state) return undefined;
    const members = [...state.members.values()].map((m) => ({ ...m }));
    return { groupId, complete: state.complete, onlineCount: state.onlineCount, members };
  }

  /** After a connection loss group events were missed (they are not retained): rosters are no longer complete. */
  forgetCompleteness(): void {
    for (const state of this.groups.values()) state.complete = false;
  }
}

interface GroupState {
  lastSeq: Map<string, number>;
  members: Map<string, GroupMember>;
  onlineCount: number | undefined;
  complete: boolean;
}

/** What seeding needs of a groupHereNow result. */
export interface GroupPage {
  groupId: string;
  total: number;
  onlineCount: number;
  offset: number;
  members: GroupMember[];
}

/** A member as a group event leaves it: an offline's time is its lastSeen. */
function rosterEntry(event: GroupPresenceEvent): GroupMember {
  const online = event.action !== 'offline';
  return { id: event.id, online, data: event.data, seq: event.seq, ...(online ? {} : { lastSeen: event.time }) };
}

import type { GroupMember, GroupPresenceEvent, UserPresenceEvent } from './types.js';

/** An event held back while a snapshot that covers it is in flight; `floor`: the snapshot's seq for its user. */
export type HeldEvent =
  | { kind: 'user'; event: UserPresenceEvent; retained: boolean; floor: number }
  | { kind: 'group'; event: GroupPresenceEvent; floor: number };

/** What one snapshot query covers: these users' events, these groups' events. */
export interface Hold {
  readonly users: ReadonlySet<string>;
  readonly groups: ReadonlySet<string>;
}

/**
 * Snapshot without gap, with no I/O: while a snapshot query (hereNow, groupHereNow) is in flight, the
 * events it covers are queued instead of applied. When its answer comes, every queued event about a
 * user it lists gets that user's snapshot seq as a floor: at or below it the snapshot already
 * reflects the event. Closing the hold hands back, in arrival order, the queued events no other open
 * hold covers; the caller applies those above their floor. Per topic the order is kept, because an
 * event is queued whenever an earlier one of the same user or group may still be.
 */
export class SnapshotGate {
  private readonly holds = new Set<Hold>();
  private queue: HeldEvent[] = [];

  open(users: readonly string[], groups: readonly string[]): Hold {
    const hold: Hold = { users: new Set(users), groups: new Set(groups) };
    this.holds.add(hold);
    return hold;
  }

  /** Queues the event and returns true when an open hold covers it. */
  offer(held: HeldEvent): boolean {
    if (this.holds.size === 0) return false;
    for (const hold of this.holds) {
      if (covers(hold, held)) {
        this.queue.push(held);
        return true;
      }
    }
    return false;
  }

  /** A hereNow answer: queued events of these users at or below their seq are reflected in it. */
  usersAnswered(users: readonly GroupMember[]): void {
    const seqs = new Map(users.map((u) => [u.id, u.seq]));
    for (const held of this.queue) {
      const seq = held.kind === 'user' ? seqs.get(held.event.id) : undefined;
      if (seq !== undefined) held.floor = Math.max(held.floor, seq);
    }
  }

  /** A groupHereNow answer: the same for the group's queued events of the members it lists. */
  groupAnswered(groupId: string, members: readonly GroupMember[]): void {
    const seqs = new Map(members.map((m) => [m.id, m.seq]));
    for (const held of this.queue) {
      const seq = held.kind === 'group' && held.event.groupId === groupId ? seqs.get(held.event.id) : undefined;
      if (seq !== undefined) held.floor = Math.max(held.floor, seq);
    }
  }

  /** Ends a hold; returns the queued events no open hold covers any more, in arrival order. */
  close(hold: Hold): HeldEvent[] {
    if (!this.holds.delete(hold)) return [];
    const released: HeldEvent[] = [];
    const kept: HeldEvent[] = [];
    for (const held of this.queue) {
      const still = [...this.holds].some((other) => covers(other, held));
      (still ? kept : released).push(held);
    }
    this.queue = kept;
    return released;
  }
}

function covers(hold: Hold, held: HeldEvent): boolean {
  return held.kind === 'user' ? hold.users.has(held.event.id) : hold.groups.has(held.event.groupId);
}

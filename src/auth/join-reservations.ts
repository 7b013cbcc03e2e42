/**
 * Joins the broker authorized but the tracker has not applied yet, so the per-user and per-group caps
 * hold for joins still in flight, without counting anything that never happened.
 *
 * The membership itself has one owner, the tracker (the policy's `Membership` mirrors its join and
 * leave events). A SUBSCRIBE is authorized filter by filter before aedes accepts the packet; aedes may
 * still reject the whole packet (a filter too deep, a store error) and then emits no `subscribe`. So
 * an authorized join is only *reserved* for its connection (`reserve`); `confirm` (aedes' `subscribe`,
 * or a membership announcement consumed) hands it to the tracker and returns the release to call once
 * the tracker applied it; `abandon` (the connection closed) drops every reservation not confirmed.
 */
export class JoinReservations {
  private readonly groupsOf = new Map<string, Map<string, number>>();
  private readonly membersOf = new Map<string, Map<string, number>>();
  private readonly unconfirmed = new Map<object, [userId: string, groupId: string][]>();

  /** Counts a join for `owner` (its connection) until it is confirmed or abandoned. */
  reserve(owner: object, userId: string, groupId: string): void {
    bump(this.groupsOf, userId, groupId, 1);
    bump(this.membersOf, groupId, userId, 1);
    const held = this.unconfirmed.get(owner);
    if (held) held.push([userId, groupId]);
    else this.unconfirmed.set(owner, [[userId, groupId]]);
  }

  /** The join happened: the reservation now waits only for the tracker; call the result after it. */
  confirm(owner: object, userId: string, groupId: string): () => void {
    const held = this.unconfirmed.get(owner);
    const index = held?.findIndex(([u, g]) => u === userId && g === groupId) ?? -1;
    if (index < 0) return () => {};
    held!.splice(index, 1);
    if (held!.length === 0) this.unconfirmed.delete(owner);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.release(userId, groupId);
    };
  }

  /** The owner's connection ended: what it reserved and aedes never confirmed did not happen. */
  abandon(owner: object): void {
    for (const [userId, groupId] of this.unconfirmed.get(owner) ?? []) this.release(userId, groupId);
    this.unconfirmed.delete(owner);
  }

  has(userId: string, groupId: string): boolean {
    return this.groupsOf.get(userId)?.has(groupId) ?? false;
  }

  /** Groups `userId` has reserved that `counted` does not count yet. */
  extraGroups(userId: string, counted: (groupId: string) => boolean): number {
    let n = 0;
    for (const groupId of this.groupsOf.get(userId)?.keys() ?? []) if (!counted(groupId)) n++;
    return n;
  }

  /** Users who reserved `groupId` that `counted` does not count yet. */
  extraMembers(groupId: string, counted: (userId: string) => boolean): number {
    let n = 0;
    for (const userId of this.membersOf.get(groupId)?.keys() ?? []) if (!counted(userId)) n++;
    return n;
  }

  private release(userId: string, groupId: string): void {
    bump(this.groupsOf, userId, groupId, -1);
    bump(this.membersOf, groupId, userId, -1);
  }
}

function bump(map: Map<string, Map<string, number>>, key: string, inner: string, by: number): void {
  let counts = map.get(key);
  if (!counts) map.set(key, (counts = new Map()));
  const next = (counts.get(inner) ?? 0) + by;
  if (next > 0) counts.set(inner, next);
  else counts.delete(inner);
  if (counts.size === 0) map.delete(key);
}

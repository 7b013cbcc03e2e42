import { once } from './once.js';

/**
 * Who owns a client id, with authentication on (contract, "Identity"): the user whose connection holds
 * it, and, after that connection ends, the user whose persistent session (clean=false) it names, for as
 * long as the session exists. Another user's CONNECT with an owned id is refused; nothing else reads this.
 *
 * One interface, so the record can live elsewhere (Redis, for a cluster) without touching the broker:
 * `claim` must be atomic (check and record in one step) and is the only way a record is created.
 */
export interface ClientIdOwnership {
  /**
   * Claims `clientId` for `userId` for one accepted connection. Resolves `{ok: false, owner}` when another
   * user owns it (nothing is recorded), else records the owner and returns the hold; `persistent` (the
   * CONNECT's clean=false) keeps the record after the last connection ends, `release` drops the hold.
   * Call it last, when nothing else can refuse the CONNECT: a refused CONNECT must leave no record.
   */
  claim(clientId: string, userId: string, persistent: boolean): Promise<ClaimResult>;
  /** The owner of `clientId`, or undefined when it is free. */
  ownerOf(clientId: string): Promise<string | undefined>;
  /** The persistent session of `clientId` is gone (expired, deleted): free the id once no connection holds it. */
  sessionEnded(clientId: string): Promise<void>;
}

export type ClaimResult = { ok: true; release: () => void } | { ok: false; owner: string };

interface Owner {
  userId: string;
  /** Live connections holding the id (a takeover by the owner briefly makes two). */
  holders: number;
  /** A persistent session exists under this id. */
  persistent: boolean;
}

/**
 * The in-process record (the default, one node). Memory: one small entry per client id that is
 * connected or names a persistent session, so it is bounded by what the broker itself holds.
 */
export class MemoryClientIdOwnership implements ClientIdOwnership {
  private readonly owners = new Map<string, Owner>();

  claim(clientId: string, userId: string, persistent: boolean): Promise<ClaimResult> {
    return Promise.resolve(this.claimNow(clientId, userId, persistent));
  }

  /** Synchronous, hence atomic within the process. */
  claimNow(clientId: string, userId: string, persistent: boolean): ClaimResult {
    let owner = this.owners.get(clientId);
    if (owner && owner.userId !== userId) return { ok: false, owner: owner.userId };
    if (!owner) this.owners.set(clientId, (owner = { userId, holders: 0, persistent }));
    // A clean CONNECT discards the session the id named (MQTT 3.1.1 [MQTT-3.1.2-6]); clean=false keeps one.
    owner.persistent = persistent;
    owner.holders++;
    const held = owner;
    const release = once(() => {
      held.holders--;
      this.drop(clientId, held);
    });
    return { ok: true, release };
  }

  ownerOf(clientId: string): Promise<string | undefined> {
    return Promise.resolve(this.owners.get(clientId)?.userId);
  }

  sessionEnded(clientId: string): Promise<void> {
    const owner = this.owners.get(clientId);
    if (owner) {
      owner.persistent = false;
      this.drop(clientId, owner);
    }
    return Promise.resolve();
  }

  get size(): number {
    return this.owners.size;
  }

  private drop(clientId: string, owner: Owner): void {
    if (owner.holders <= 0 && !owner.persistent && this.owners.get(clientId) === owner) this.owners.delete(clientId);
  }
}

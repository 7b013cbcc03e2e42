/**
 * How a tracker's changes wait their turn (PresenceTracker's `concurrency` option).
 *
 * - `serial`: one queue for every change of the process. With the in-memory store a change takes no
 *   time, so this costs nothing and keeps the model trivially ordered.
 * - `per-user`: one queue per user; changes of different users overlap. A networked store's change is
 *   a read and a commit, two round trips: through one queue a node could apply at most one change per two
 *   round trips, whatever the number of users (a cluster node's CONNACK waits for its connection's
 *   change, so that bounded its connection rate; docs/cluster.md, "Capacity"). A user's own changes still
 *   run one at a time, each from the record the previous one left.
 *
 * A task never rejects the queue: a failed change is reported to `onError` and must not wedge the
 * changes behind it, nor surface as an unhandled rejection in an edge that fired and forgot.
 */
export class ChangeQueue {
  private tail: Promise<void> = Promise.resolve();
  private readonly tails = new Map<string, Promise<void>>();

  constructor(
    private readonly concurrency: 'serial' | 'per-user',
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Runs `task` after every change queued before it (of the user, or of anyone when serial). */
  run(userId: string, task: () => Promise<void>): Promise<void> {
    if (this.concurrency === 'serial') {
      this.tail = this.tail.then(task).catch((error: unknown) => this.onError(error));
      return this.tail;
    }
    const next = (this.tails.get(userId) ?? Promise.resolve()).then(task).catch((error: unknown) => this.onError(error));
    this.tails.set(userId, next);
    void next.then(() => {
      if (this.tails.get(userId) === next) this.tails.delete(userId);
    });
    return next;
  }

  /** Resolves once every change queued so far has run. */
  settled(): Promise<void> {
    if (this.concurrency === 'serial') return this.tail;
    return Promise.all(this.tails.values()).then(() => undefined);
  }
}

/**
 * Hands items to `sink` in the order their slots were reserved, whatever order they are ready in.
 * The tracker reserves a slot right before it calls the store's commit: a store whose commits take
 * effect in the order they are called (one Redis connection runs its commands in order; the memory
 * store at once) then has its events leave in the order their changes were applied, so each group
 * event's count is the count right after it, as with one serial queue. Every slot must be released
 * exactly once (with nothing for a change that failed or emits nothing), or the items behind it wait.
 */
export class OrderedRelease<T> {
  private reserved = 0;
  private next = 0;
  private readonly ready = new Map<number, T | undefined>();

  constructor(
    private readonly sink: (item: T) => void,
    private readonly onError: (error: unknown) => void,
  ) {}

  reserve(): (item?: T) => void {
    const slot = this.reserved++;
    let released = false;
    return (item) => {
      if (released) return;
      released = true;
      this.ready.set(slot, item);
      this.drain();
    };
  }

  private drain(): void {
    while (this.ready.has(this.next)) {
      const item = this.ready.get(this.next);
      this.ready.delete(this.next);
      this.next++;
      if (item === undefined) continue;
      try {
        this.sink(item);
      } catch (error) {
        this.onError(error);
      }
    }
  }
}

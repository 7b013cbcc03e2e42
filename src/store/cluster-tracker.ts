import type { ConnectionDown, ConnectionUp } from '../core/events.js';
import { PresenceTracker, type TrackerOptions } from '../core/tracker.js';

/**
 * The tracker of a cluster node. One difference: a connection closed here because its client id just
 * connected to another node (aedes' `$SYS/<node>/new/clients`, a cross-node takeover) is not ended at
 * once. The new node's connection-up may reach Redis after this node's down, which would publish an
 * offline/online pair; so the down waits `handoffMs`, and by then the connection belongs to the new node
 * and the down (stamped with this node) ends nothing. If the new connection never came up, it ends then.
 */
export class ClusterTracker extends PresenceTracker {
  private readonly movedAway = new Map<string, number>();
  /** Deferred downs by client id, so a new local connection with the id cancels its predecessor's. */
  private readonly deferred = new Map<string, { userId: string; cancel: () => void }>();
  private readonly handoffMs: number;

  constructor(options: TrackerOptions & { nodeId: string; handoffMs: number }) {
    super(options);
    this.handoffMs = options.handoffMs;
  }

  /** Another node registered a client with this id (called before aedes closes the local one). */
  clientMovedAway(clientId: string): void {
    const now = Date.now();
    this.movedAway.set(clientId, now);
    for (const [id, at] of this.movedAway) if (now - at > this.handoffMs) this.movedAway.delete(id);
  }

  override connectionDown(down: ConnectionDown): Promise<void> {
    const at = this.movedAway.get(down.connectionId);
    if (down.node !== undefined || at === undefined || Date.now() - at > this.handoffMs) return super.connectionDown(down);
    this.movedAway.delete(down.connectionId);
    const stamped = { ...down, reason: 'takeover' as const };
    this.deferred.get(down.connectionId)?.cancel();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.deferred.delete(down.connectionId);
        void super.connectionDown(stamped).then(resolve);
      }, this.handoffMs);
      timer.unref();
      const cancel = () => {
        clearTimeout(timer);
        this.deferred.delete(down.connectionId);
        resolve();
      };
      this.deferred.set(down.connectionId, { userId: down.userId, cancel });
    });
  }

  /** The client id came back to this node for the same user: the deferred end of its old connection is moot. */
  override connectionUp(up: ConnectionUp): Promise<void> {
    const deferred = this.deferred.get(up.connectionId);
    if (deferred?.userId === up.userId) deferred.cancel();
    return super.connectionUp(up);
  }
}

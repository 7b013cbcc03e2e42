import type { ConnAnnouncement } from '../announcements.js';
import { realScheduler, type Scheduler } from '../core/tracker.js';

/** How long a will waits for a birth on the same connection topic by default: a takeover's comes in ms. */
export const DEFAULT_TAKEOVER_WINDOW_MS = 500;

/**
 * Tells a takeover from a loss in attach mode. An MQTT 3.1.1 broker publishes the old connection's
 * will when the same client id connects again, and the new connection can only publish its birth after
 * its CONNACK, so at the moment the will arrives a takeover and a loss look the same. What tells them
 * apart is what follows on the same announcement topic (`presence/conn/<user>/<clientId>`): after a
 * takeover, the new connection's birth, milliseconds later. So the end of a connection announced by an
 * offline that is not marked graceful is held for the takeover window (`--takeover-window MS`, default
 * 500, so a real loss goes offline at most half a second later than without it); a birth on the same topic in
 * that time ends the old epoch silently and the connection carries on under the new one.
 *
 * An offline the client marks `"graceful": true` (the thin client's, published just before DISCONNECT)
 * is applied at once: the client is leaving, not being taken over. A window of 0 applies every offline
 * at once (the old behaviour; `--grace` still works on top, per user).
 */
export class TakeoverHolds {
  private readonly held = new Map<string, unknown>();

  constructor(
    readonly windowMs: number,
    private readonly scheduler: Scheduler = realScheduler,
  ) {}

  /** Runs `end` after the window unless `birth(topic)` comes first; at once for a graceful offline. */
  hold(topic: string, announcement: ConnAnnouncement, end: () => void): void {
    this.cancel(topic);
    if (this.windowMs === 0 || isGraceful(announcement)) return end();
    this.held.set(
      topic,
      this.scheduler.set(() => {
        this.held.delete(topic);
        end();
      }, this.windowMs),
    );
  }

  /** A birth on `topic`: true when it took over a held connection end (which will not run). */
  birth(topic: string): boolean {
    return this.cancel(topic);
  }

  has(topic: string): boolean {
    return this.held.has(topic);
  }

  get pending(): number {
    return this.held.size;
  }

  private cancel(topic: string): boolean {
    if (!this.held.has(topic)) return false;
    this.scheduler.clear(this.held.get(topic));
    this.held.delete(topic);
    return true;
  }
}

/** An offline the client published itself before DISCONNECT, marked so (an extra field of the protocol). */
export function isGraceful(announcement: ConnAnnouncement): boolean {
  return (announcement as { graceful?: unknown }).graceful === true;
}

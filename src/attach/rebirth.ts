import { randomUUID } from 'node:crypto';
import { realScheduler, type Scheduler } from '../core/tracker.js';
import type { Logger } from '../log/logger.js';
import type { LiveBirth, RetainedMirror } from './mirror.js';

/** How long after a broker restart a restored birth may wait for its connection to announce again. */
export const DEFAULT_REBIRTH_WINDOW_MS = 30_000;
/** Mosquitto's retained "<n> seconds" since it started, republished every sys_interval (10 s). */
export const UPTIME_TOPIC = '$SYS/broker/uptime';
/** Slack for the uptime's staleness (it is only republished every sys_interval) and clock jitter. */
const UPTIME_SLACK_MS = 15_000;
/** How often the retained marker is rewritten, so a store saved before a crash holds an older one. */
const MARKER_REFRESH_MS = 10_000;

/**
 * Tells a broker restart from a broken link, and ends the ghosts a crash leaves behind.
 *
 * A crashed broker fires no wills and restores, from its last save, births of connections that are
 * gone; every live client reconnects and announces a new birth. So after a restart, each birth the
 * resync finds with the very epoch the bridge already held is suspect: unless its connection announces
 * a new birth within the rebirth window, it ends with reason `broker_restart` (`end`).
 *
 * A restart is recognized, at each resync, by either of:
 * - `$SYS/broker/uptime` (Mosquitto) going back, or the broker's start time it implies moving on;
 * - the bridge's retained marker `<status topic>/marker`, rewritten every 10 s with a new value, being
 *   absent or older than the last value written: the broker lost retained state, which only a restart
 *   does. This one works on any broker that keeps retained messages (EMQX, HiveMQ), but misses a crash
 *   within 10 s of a save that followed the last rewrite.
 * A plain broken link changes neither, and nobody is suspected.
 */
export class RebirthWatch {
  /** The broker's uptime as last seen, in ms (undefined until a broker publishes it). */
  uptimeMs: number | undefined;
  private brokerStart: number | undefined;
  private seenUptime: number | undefined;
  private resyncing = false;
  private seenMarker: string | undefined;
  /** Marker values sent since (and including) the last one the broker acknowledged. */
  private sent: string[] = [];
  private acked = false;
  private readonly nonce = randomUUID();
  private writes = 0;
  private timer: unknown;
  private refresher: NodeJS.Timeout | undefined;

  constructor(
    readonly windowMs: number,
    readonly markerTopic: string,
    private readonly scheduler: Scheduler = realScheduler,
    private readonly now: () => number = Date.now,
  ) {}

  /** Subscribed beside the announcements. */
  get filters(): string[] {
    return [UPTIME_TOPIC, this.markerTopic];
  }

  /** Takes the uptime and the marker as they arrive; true for those topics (nothing else to do with them). */
  observe(topic: string, payload: Buffer): boolean {
    if (topic === UPTIME_TOPIC) {
      const seconds = Number.parseInt(payload.toString(), 10);
      if (!Number.isFinite(seconds)) return true;
      if (this.resyncing) this.seenUptime = seconds * 1000;
      else this.uptime(seconds * 1000); // live, every sys_interval: keeps the last uptime fresh
      return true;
    }
    if (topic === this.markerTopic) {
      this.seenMarker = payload.toString();
      return true;
    }
    return false;
  }

  /** A resync starts: what it brings is judged on its own. */
  resyncStarted(): void {
    this.seenMarker = undefined;
    this.seenUptime = undefined;
    this.resyncing = true;
  }

  /** At the end of a resync: did the broker restart since the last one? */
  restarted(): boolean {
    this.resyncing = false;
    const marker = this.acked && !this.sent.includes(this.seenMarker ?? '');
    return (this.seenUptime !== undefined && this.uptime(this.seenUptime)) || marker;
  }

  /** Records an uptime; true when it shows a restart since the last one. */
  private uptime(ms: number): boolean {
    const start = this.now() - ms;
    const restarted = this.uptimeMs !== undefined && (ms < this.uptimeMs || start > this.brokerStart! + UPTIME_SLACK_MS);
    this.uptimeMs = ms;
    this.brokerStart = start;
    return restarted;
  }

  /** At the end of a resync: after a restart, starts the rebirth window over the resync's `births`. */
  afterResync(
    births: Map<string, LiveBirth>,
    before: RetainedMirror,
    mirror: () => RetainedMirror,
    log: Logger,
    end: (topic: string, birth: LiveBirth) => void,
  ): void {
    if (!this.restarted()) return;
    const suspects = this.begin(births, before, mirror, end);
    log.warn('the broker restarted; restored births not renewed within the rebirth window will end', { suspects, windowMs: this.windowMs });
  }

  /**
   * After a restart: births in `births` with the epoch `before` held are suspects; when the window ends,
   * each one still live with that epoch in `mirror` is ended and handed to `end`.
   */
  begin(births: Map<string, LiveBirth>, before: RetainedMirror, mirror: () => RetainedMirror, end: (topic: string, birth: LiveBirth) => void): number {
    const suspects = new Map<string, string | undefined>();
    for (const [topic, birth] of births) {
      const known = before.live(topic);
      if (known && known.epoch === birth.epoch) suspects.set(topic, birth.epoch);
    }
    this.scheduler.clear(this.timer);
    this.timer = undefined;
    if (suspects.size === 0) return 0;
    this.timer = this.scheduler.set(() => {
      this.timer = undefined;
      const current = mirror();
      for (const [topic, epoch] of suspects) {
        const birth = current.live(topic);
        if (!birth || birth.epoch !== epoch) continue; // announced again: it came back
        current.end(topic);
        end(topic, birth);
      }
    }, this.windowMs);
    return suspects.size;
  }

  /**
   * Writes the marker now and every 10 s from now on: `publish` sends it retained and calls `acked`
   * on its PUBACK. Until then the broker may hold the previous value or this one: both are expected.
   */
  keepMarker(publish: (value: string, acked: () => void) => void): void {
    const write = () => {
      const value = `${this.nonce}:${++this.writes}`;
      this.sent.push(value);
      publish(value, () => {
        const index = this.sent.indexOf(value);
        if (index < 0) return;
        this.sent.splice(0, index);
        this.acked = true;
      });
    };
    write();
    if (this.refresher) clearInterval(this.refresher);
    this.refresher = setInterval(write, MARKER_REFRESH_MS);
    this.refresher.unref();
  }

  /** The link is down: the marker waits for the next resync (a value never sent cannot be expected). */
  pause(): void {
    if (this.refresher) clearInterval(this.refresher);
    this.refresher = undefined;
  }

  stop(): void {
    this.pause();
    this.scheduler.clear(this.timer);
    this.timer = undefined;
  }
}

import { updateRefusal } from '../announcements.js';
import type { UpdateRefusalCode, UserData } from '../core/events.js';
import type { PresenceTracker } from '../core/tracker.js';
import type { UpdateLimiter } from '../auth/update-limit.js';
import type { Logger } from '../log/logger.js';
import type { Refusal, RefusalCode } from '../log/refusals.js';
import type { RetainedMirror } from './mirror.js';

/** What the attach bridge lends the update handler. */
export interface UpdateDeps {
  tracker: PresenceTracker;
  mirror: RetainedMirror;
  limiter: UpdateLimiter;
  log: Logger;
  /** Republishes the bridge's truth for a topic whose retained copy an update replaced. */
  restore(topic: string, payload: Buffer, why: string): void;
  /** Clears a retained announcement. */
  clear(topic: string): void;
  onRefused?: (code: RefusalCode) => void;
}

export interface ConnUpdate {
  topic: string;
  userId: string;
  clientId: string;
  data: UserData;
  epoch?: string;
  payload: Buffer;
}

/**
 * An update announcement in attach mode (PRODUCT.md "Data updates"). It is published RETAINED on the
 * connection's announcement topic, so when accepted it replaces the birth there: the bridge's live
 * birth for the topic becomes the update (same epoch, new data), and a resync after a restart sees the
 * latest data. A refused update (no live birth, stale epoch, over the rate limit) puts back the
 * retained message it replaced: the last accepted birth or update, or nothing. A repeat of the live
 * payload (our own restore coming back) is no new update.
 */
export function onConnUpdate(deps: UpdateDeps, update: ConnUpdate): void {
  const { topic, userId, clientId, data, epoch, payload } = update;
  const live = deps.mirror.live(topic);
  if (live && live.payload.equals(payload)) return;
  const refuse = (code: UpdateRefusalCode, detail: string) => {
    refused(deps, topic, updateRefusal(code, detail));
    if (live) deps.restore(topic, live.payload, `a refused update (${code}) replaced the live announcement`);
    else deps.clear(topic);
  };
  if (!live) return refuse('not_connected', 'no live birth on this announcement topic');
  if (epoch !== undefined && live.epoch !== undefined && epoch !== live.epoch) {
    return refuse('stale_epoch', `epoch '${epoch}' is not the connection's current epoch`);
  }
  if (!deps.limiter.take(`${userId}/${clientId}`)) return refuse('rate_limited', deps.limiter.detail);
  deps.mirror.setLive(topic, { ...live, data, payload });
  void deps.tracker.update({ userId, connectionId: clientId, data, epoch }).then((result) => {
    if (!result.ok) refused(deps, topic, updateRefusal(result.code, result.detail));
  });
}

function refused(deps: UpdateDeps, topic: string, refusal: Refusal): void {
  deps.log.warn('update refused', { topic, code: refusal.code, reason: refusal.detail });
  deps.onRefused?.(refusal.code);
}

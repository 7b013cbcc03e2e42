/**
 * The demo's view of a large group (interval mode, docs/protocol.md "Large groups"): the client hands
 * it one GROUP_PRESENCE event per user listed in an interval, marked `interval: true`. Shown sensibly:
 * the count and total follow every interval, the member list stays at the page it was seeded with
 * (listed members change state; newcomers are added only while the list is short), and the log gets
 * one line per interval instead of one per user. Rendering happens once per interval, too.
 */
import type { GroupPresenceEvent, UserData } from '../../client/index.js';

/** The parts of app.ts's group this view updates. */
interface ShownGroup {
  onlineCount: number | undefined;
  total: number | undefined;
  members: Map<string, { id: string; data: UserData; online: boolean | undefined }>;
}

interface Ui {
  /** Most members listed per group. */
  cap: number;
  render(): void;
  log(kind: string, text: string): void;
}

interface Summary {
  join: number;
  leave: number;
  online: number;
  offline: number;
  count: number;
}

/** Per group, the changes of the interval being expanded (the client expands one interval synchronously). */
const pending = new Map<string, Summary>();

/** Handles an expanded interval event and returns true; returns false for any other event. */
export function showIntervalEvent(event: GroupPresenceEvent, group: ShownGroup | undefined, ui: Ui): boolean {
  if ((event as { interval?: unknown }).interval !== true) return false;
  if (!group) return true;
  group.onlineCount = event.groupOnlineCount;
  if (group.total !== undefined && (event.action === 'join' || event.action === 'leave')) group.total += event.action === 'join' ? 1 : -1;
  if (event.action === 'leave') group.members.delete(event.id);
  else if (group.members.has(event.id) || group.members.size < ui.cap) {
    const known = group.members.get(event.id);
    group.members.set(event.id, { id: event.id, data: known?.data ?? event.data, online: event.action !== 'offline' });
  }
  let summary = pending.get(event.groupId);
  if (!summary) {
    summary = { join: 0, leave: 0, online: 0, offline: 0, count: 0 };
    pending.set(event.groupId, summary);
    queueMicrotask(() => {
      pending.delete(event.groupId);
      const s = summary!;
      const parts = [`${s.join} joined`, `${s.leave} left`, `${s.online} came online`, `${s.offline} went offline`];
      ui.log('interval', `${event.groupId}: ${parts.join(', ')} (${s.count} online)`);
      ui.render();
    });
  }
  summary[event.action as 'join' | 'leave' | 'online' | 'offline']++;
  summary.count = event.groupOnlineCount;
  return true;
}

import type { GroupEvent, PresenceEvent, UserEvent } from './events.js';
import type { UserRecord } from './store.js';
import type { Announcement } from './transitions.js';

/**
 * The events one committed change announces: the user event first (if any), then one per group, with
 * the seqs issued for them in that order and each group's online count right after the change
 * (`counts`, from the store's commit). `time` in ms since the epoch.
 */
export function eventsOf(
  record: UserRecord,
  announce: Announcement,
  counts: Map<string, number>,
  time: number,
  seqs: number[],
): PresenceEvent[] {
  const events: PresenceEvent[] = [];
  let next = 0;
  if (announce.user) {
    const event: UserEvent = { time, action: announce.user.action, id: record.id, data: record.data, seq: seqs[next++]! };
    if (announce.user.reason) event.reason = announce.user.reason;
    events.push({ kind: 'user', event });
  }
  for (const group of announce.groups) {
    const event: GroupEvent = {
      groupId: group.groupId,
      groupOnlineCount: counts.get(group.groupId) ?? 0,
      time,
      action: group.action,
      id: record.id,
      data: record.data,
      seq: seqs[next++]!,
    };
    if (group.reason) event.reason = group.reason;
    events.push({ kind: 'group', event });
  }
  return events;
}

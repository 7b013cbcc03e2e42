import {
  arrayOf,
  boolean,
  checker,
  count,
  nonEmpty,
  number,
  object,
  oneOf,
  nullable,
  recordOf,
  shape,
  string,
  type Checked,
} from '../protocol/guards.js';
import type {
  GroupHereNowResult,
  GroupOnlineCountResult,
  GroupPresenceEvent,
  HereNowResult,
  UserData,
  UserPresenceEvent,
  WhereNowResult,
} from './types.js';

/**
 * The client's side of the wire: events it reads are validated (a broker may carry anything a
 * misbehaving publisher sent), announcements it writes are built in one place.
 */

/** Far above any real event (data is at most a few KiB); protects the page from a flood. */
const MAX_EVENT_BYTES = 64 * 1024;

const reason = nullable(string);

const checkUserEvent = checker<UserPresenceEvent>(
  shape({ time: number, action: oneOf('online', 'offline', 'update'), id: nonEmpty, data: object, seq: number, reason }, ['reason']),
);

const checkGroupEvent = checker<GroupPresenceEvent>(
  shape(
    {
      groupId: nonEmpty,
      groupOnlineCount: count,
      time: number,
      action: oneOf('online', 'offline', 'join', 'leave', 'update'),
      id: nonEmpty,
      data: object,
      seq: number,
      reason,
    },
    ['reason'],
  ),
);

const member = shape({ id: nonEmpty, online: boolean, data: object, seq: number, lastSeen: nullable(number) }, ['lastSeen']);

/** Query results (docs/api.md), checked before the client builds on them (rosters, floors). */
export const checkResult = {
  hereNow: checker<HereNowResult>(shape({ users: arrayOf(member) })),
  groupHereNow: checker<GroupHereNowResult>(
    shape({ groupId: nonEmpty, total: count, onlineCount: count, offset: count, limit: count, members: arrayOf(member) }),
  ),
  groupOnlineCount: checker<GroupOnlineCountResult>(shape({ counts: recordOf(count) })),
  whereNow: checker<WhereNowResult>(shape({ userId: nonEmpty, groups: arrayOf(string) })),
};

const decoder = new TextDecoder('utf-8', { fatal: true });

function json(payload: Uint8Array): Checked<unknown> {
  if (payload.length > MAX_EVENT_BYTES) return { ok: false, reason: `payload of ${payload.length} bytes is too large` };
  try {
    return { ok: true, value: JSON.parse(decoder.decode(payload)) };
  } catch {
    return { ok: false, reason: 'payload is not valid UTF-8 JSON' };
  }
}

export function parseUserEvent(payload: Uint8Array, userId: string): Checked<UserPresenceEvent> {
  const parsed = json(payload);
  if (!parsed.ok) return parsed;
  const checked = checkUserEvent(parsed.value);
  if (checked.ok && checked.value.id !== userId) return { ok: false, reason: `event for '${checked.value.id}' on the topic of '${userId}'` };
  return checked;
}

export function parseGroupEvent(payload: Uint8Array, groupId: string): Checked<GroupPresenceEvent> {
  const parsed = json(payload);
  if (!parsed.ok) return parsed;
  const checked = checkGroupEvent(parsed.value);
  if (checked.ok && checked.value.groupId !== groupId) {
    return { ok: false, reason: `event for group '${checked.value.groupId}' on the topic of '${groupId}'` };
  }
  return checked;
}

/** Birth, will and graceful-end payloads of the announcement protocol. */
export function connAnnouncement(action: 'online' | 'offline', data: UserData, epoch: string): string {
  return JSON.stringify({ action, data, epoch });
}

/**
 * The offline a client publishes itself just before DISCONNECT, marked graceful so an attach bridge
 * applies it at once instead of waiting out its takeover window (docs/attach.md).
 */
export function gracefulOffline(data: UserData, epoch: string): string {
  return JSON.stringify({ action: 'offline', data, epoch, graceful: true });
}

export const JOIN_ANNOUNCEMENT = JSON.stringify({ action: 'join' });
/** An empty retained payload clears the membership: a leave. */
export const LEAVE_ANNOUNCEMENT = '';

/** A random per-connection epoch (Sparkplug's bdSeq idea): tells a stale will from a current one. */
export function newEpoch(): string {
  const bytes = new Uint8Array(8);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

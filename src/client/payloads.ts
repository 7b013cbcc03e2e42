import type { JSONSchemaType } from 'ajv';
import { compile, type Checked } from '../schemas/ajv.js';
import type {
  GroupHereNowResult,
  GroupMember,
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

const userEventSchema: JSONSchemaType<UserPresenceEvent> = {
  type: 'object',
  properties: {
    time: { type: 'number' },
    action: { type: 'string', enum: ['online', 'offline', 'update'] },
    id: { type: 'string', minLength: 1 },
    data: { type: 'object', required: [] },
    seq: { type: 'number' },
    reason: { type: 'string', nullable: true },
  },
  required: ['time', 'action', 'id', 'data', 'seq'],
  additionalProperties: true,
};

const groupEventSchema: JSONSchemaType<GroupPresenceEvent> = {
  type: 'object',
  properties: {
    groupId: { type: 'string', minLength: 1 },
    groupOnlineCount: { type: 'integer', minimum: 0 },
    time: { type: 'number' },
    action: { type: 'string', enum: ['online', 'offline', 'join', 'leave', 'update'] },
    id: { type: 'string', minLength: 1 },
    data: { type: 'object', required: [] },
    seq: { type: 'number' },
    reason: { type: 'string', nullable: true },
  },
  required: ['groupId', 'groupOnlineCount', 'time', 'action', 'id', 'data', 'seq'],
  additionalProperties: true,
};

const memberSchema: JSONSchemaType<GroupMember> = {
  type: 'object',
  properties: {
    id: { type: 'string', minLength: 1 },
    online: { type: 'boolean' },
    data: { type: 'object', required: [] },
    seq: { type: 'number' },
    lastSeen: { type: 'number', nullable: true },
  },
  required: ['id', 'online', 'data', 'seq'],
  additionalProperties: true,
};

const count = { type: 'integer', minimum: 0 } as const;

/** Query results (docs/api.md), checked before the client builds on them (rosters, floors). */
export const checkResult = {
  hereNow: compile<HereNowResult>({
    type: 'object',
    properties: { users: { type: 'array', items: memberSchema } },
    required: ['users'],
    additionalProperties: true,
  }),
  groupHereNow: compile<GroupHereNowResult>({
    type: 'object',
    properties: {
      groupId: { type: 'string', minLength: 1 },
      total: count,
      onlineCount: count,
      offset: count,
      limit: count,
      members: { type: 'array', items: memberSchema },
    },
    required: ['groupId', 'total', 'onlineCount', 'offset', 'limit', 'members'],
    additionalProperties: true,
  }),
  groupOnlineCount: compile<GroupOnlineCountResult>({
    type: 'object',
    properties: { counts: { type: 'object', required: [], additionalProperties: count } },
    required: ['counts'],
    additionalProperties: true,
  } as unknown as JSONSchemaType<GroupOnlineCountResult>),
  whereNow: compile<WhereNowResult>({
    type: 'object',
    properties: { userId: { type: 'string', minLength: 1 }, groups: { type: 'array', items: { type: 'string' } } },
    required: ['userId', 'groups'],
    additionalProperties: true,
  }),
};

const checkUserEvent = compile(userEventSchema);
const checkGroupEvent = compile(groupEventSchema);

const decoder = new TextDecoder('utf-8', { fatal: true });

function json(payload: Uint8Array): Checked<unknown> {
  if (payload.length > MAX_EVENT_BYTES) return { ok: false, reason: `payload of ${payload.length} bytes is too large` };
  try {
    return { ok: true, value: JSON.parse(decoder.decode(payload)) };
  } catch {
    return { ok: false, reason: 'payload is not valid UTF-8 JSON' };
  }
}

function notArray<T extends { data: UserData }>(checked: Checked<T>): Checked<T> {
  if (checked.ok && Array.isArray(checked.value.data)) return { ok: false, reason: '/data must be a JSON object' };
  return checked;
}

export function parseUserEvent(payload: Uint8Array, userId: string): Checked<UserPresenceEvent> {
  const parsed = json(payload);
  if (!parsed.ok) return parsed;
  const checked = notArray(checkUserEvent(parsed.value));
  if (checked.ok && checked.value.id !== userId) return { ok: false, reason: `event for '${checked.value.id}' on the topic of '${userId}'` };
  return checked;
}

export function parseGroupEvent(payload: Uint8Array, groupId: string): Checked<GroupPresenceEvent> {
  const parsed = json(payload);
  if (!parsed.ok) return parsed;
  const checked = notArray(checkGroupEvent(parsed.value));
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

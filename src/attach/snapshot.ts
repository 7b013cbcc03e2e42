import type { JSONSchemaType } from 'ajv';
import type { Refusal } from '../log/refusals.js';
import { NOT_AN_ANNOUNCEMENT_TOPIC } from './refusals.js';
import { parseConnAnnouncement, parseMemberAnnouncement } from '../announcements.js';
import type { UserData, UserSnapshot } from '../core/events.js';
import { compile, parseJsonPayload } from '../schemas/ajv.js';
import type { Topics } from '../topics.js';
import type { LiveBirth, RetainedMirror } from './mirror.js';

/** The part of a retained `presence/user/<id>` event that a resync relies on. */
interface PublishedRecord {
  action: 'online' | 'offline' | 'update';
  seq: number;
  data: UserData;
}

const checkPublished = compile<PublishedRecord>({
  type: 'object',
  properties: {
    action: { type: 'string', enum: ['online', 'offline', 'update'] },
    seq: { type: 'number', minimum: 0 },
    data: { type: 'object', required: [] },
  },
  required: ['action', 'seq', 'data'],
  additionalProperties: true,
} as JSONSchemaType<PublishedRecord>);

export interface Resync {
  births: Map<string, LiveBirth>;
  members: Map<string, Set<string>>;
  /** One per user to settle: everyone the bridge knew, everyone in the broker, everyone published online. */
  users: UserSnapshot[];
  /** Retained announcements to clear: processed offlines, stale births, explicit leaves, junk. */
  clear: string[];
  dropped: { topic: string; refusal: Refusal }[];
}

/**
 * Turns what the broker held at (re)connect (the last message on each announcement and user topic)
 * into the new truth, one `UserSnapshot` per user worth settling.
 */
export function buildResync(
  retained: Map<string, Buffer>,
  topics: Topics,
  mirror: RetainedMirror,
  maxDataBytes: number,
): Resync {
  const births = new Map<string, LiveBirth>();
  const members = new Map<string, Set<string>>();
  const published = new Map<string, PublishedRecord>();
  const clear: string[] = [];
  const dropped: Resync['dropped'] = [];

  for (const [topic, payload] of retained) {
    const target = topics.parse(topic);
    if (target.kind === 'conn') {
      if (payload.length === 0) continue;
      const parsed = parseConnAnnouncement(payload, maxDataBytes);
      if (!parsed.ok) {
        dropped.push({ topic, refusal: parsed.refusal });
        clear.push(topic);
      } else if (parsed.value.action === 'offline' || mirror.isEnded(topic, parsed.value.epoch)) {
        clear.push(topic);
      } else {
        const { epoch, data } = parsed.value;
        births.set(topic, { userId: target.userId, clientId: target.clientId, epoch, data, payload });
      }
    } else if (target.kind === 'member') {
      if (payload.length === 0) continue;
      const parsed = parseMemberAnnouncement(payload);
      if (!parsed.ok) {
        dropped.push({ topic, refusal: parsed.refusal });
        clear.push(topic);
        continue;
      }
      if (parsed.value.action === 'leave') {
        clear.push(topic);
        continue;
      }
      let groups = members.get(target.userId);
      if (!groups) members.set(target.userId, (groups = new Set()));
      groups.add(target.groupId);
    } else if (isAnnouncementTopic(topics, topic)) {
      if (payload.length === 0) continue;
      dropped.push({ topic, refusal: NOT_AN_ANNOUNCEMENT_TOPIC });
      clear.push(topic);
    } else if (target.kind === 'user') {
      const json = parseJsonPayload(payload, 64 * 1024);
      const record = json.ok ? checkPublished(json.value) : json;
      if (record.ok) published.set(target.userId, record.value);
    }
  }

  const ids = new Set([...mirror.userIds(), ...members.keys()]);
  for (const birth of births.values()) ids.add(birth.userId);
  for (const [id, record] of published) if (record.action !== 'offline') ids.add(id);

  const connections = new Map<string, UserSnapshot['connections']>();
  for (const birth of births.values()) {
    const conns = connections.get(birth.userId) ?? {};
    conns[birth.clientId] = { epoch: birth.epoch, data: birth.data };
    connections.set(birth.userId, conns);
  }
  // Sorted, so a resync announces in the same order every time.
  const users: UserSnapshot[] = [...ids].sort().map((userId) => {
    const record = published.get(userId);
    return {
      userId,
      connections: connections.get(userId) ?? {},
      groups: [...(members.get(userId) ?? [])],
      published: record && { online: record.action !== 'offline', seq: record.seq, data: record.data },
    };
  });
  return { births, members, users, clear, dropped };
}

/** Under `conn/` or `member/` but not shaped like an announcement (wrong depth, invalid ids). */
export function isAnnouncementTopic(topics: Topics, topic: string): boolean {
  return topic.startsWith(`${topics.prefix}/conn/`) || topic.startsWith(`${topics.prefix}/member/`);
}

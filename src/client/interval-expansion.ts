import type { IntervalEvent } from '../protocol/interval.js';
import { arrayOf, boolean, checker, count, nonEmpty, number, nullable, oneOf, recordOf, shape, type Checked } from '../protocol/guards.js';
import type { GroupPresenceEvent, GroupRoster, UserData } from './types.js';

/**
 * A large group's `interval` event as the server publishes it (src/feed/intervals.ts, docs/protocol.md
 * "Large groups"), read leniently: `seqs` may be missing and `truncated` may be false.
 */
export type IntervalPresenceEvent = Omit<IntervalEvent, 'seqs' | 'truncated'> & {
  seqs?: Record<string, number>;
  truncated?: boolean;
};

const ids = arrayOf(nonEmpty, 100_000);

const checkInterval = checker<IntervalPresenceEvent>(
  shape(
    {
      groupId: nonEmpty,
      action: oneOf('interval'),
      groupOnlineCount: count,
      time: number,
      joined: ids,
      left: ids,
      online: ids,
      offline: ids,
      seqs: nullable(recordOf(number)),
      truncated: nullable(boolean),
    },
    ['seqs', 'truncated'],
  ),
);

/** True when a parsed group payload is an interval event (checked further by `parseInterval`). */
export function isInterval(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { action?: unknown }).action === 'interval';
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * The payload as an interval event: undefined when it is none (not JSON, or another action), else the
 * checked event or why it is invalid. Only payloads that failed as a per-member event come here.
 */
export function parseIntervalPayload(payload: Uint8Array, groupId: string): Checked<IntervalPresenceEvent> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(payload));
  } catch {
    return undefined;
  }
  return isInterval(value) ? parseInterval(value, groupId) : undefined;
}

export function parseInterval(value: unknown, groupId: string): Checked<IntervalPresenceEvent> {
  const checked = checkInterval(value);
  if (checked.ok && checked.value.groupId !== groupId) {
    return { ok: false, reason: `interval for group '${checked.value.groupId}' on the topic of '${groupId}'` };
  }
  return checked;
}

const LISTS = [
  ['joined', 'join'],
  ['left', 'leave'],
  ['online', 'online'],
  ['offline', 'offline'],
] as const;

/**
 * One GoEasy-shaped group event per listed user, each with the interval's count and time, the
 * user's seq from the interval (so the client's staleness rules hold), and the user's `data` as the
 * roster knows it (an interval carries none). `interval: true` marks them as expanded.
 */
export function expandInterval(event: IntervalPresenceEvent, roster: GroupRoster | undefined): GroupPresenceEvent[] {
  const known = new Map<string, UserData>();
  for (const member of roster?.members ?? []) known.set(member.id, member.data);
  const out: GroupPresenceEvent[] = [];
  for (const [list, action] of LISTS) {
    for (const id of event[list]) {
      out.push({
        groupId: event.groupId,
        groupOnlineCount: event.groupOnlineCount,
        time: event.time,
        action,
        id,
        data: known.get(id) ?? {},
        seq: event.seqs?.[id] ?? 0,
        interval: true,
      } as GroupPresenceEvent);
    }
  }
  return out;
}

/**
 * Re-reads a group's roster when an interval was truncated, page by page, one refresh per group at a
 * time: a truncation during a refresh asks for one more refresh after it, never for a pile of them.
 */
export class RosterRefresh {
  private readonly running = new Map<string, boolean>();

  constructor(
    private readonly readPage: (groupId: string, offset: number) => Promise<{ total: number; members: unknown[] }>,
    private readonly report: (error: unknown) => void,
  ) {}

  request(groupId: string): void {
    if (this.running.has(groupId)) {
      this.running.set(groupId, true);
      return;
    }
    this.running.set(groupId, false);
    void this.run(groupId);
  }

  private async run(groupId: string): Promise<void> {
    try {
      for (let offset = 0; ; ) {
        const page = await this.readPage(groupId, offset);
        offset += page.members.length;
        if (page.members.length === 0 || offset >= page.total) break;
      }
    } catch (error) {
      this.report(error);
    }
    const again = this.running.get(groupId);
    this.running.delete(groupId);
    if (again) this.request(groupId);
  }
}

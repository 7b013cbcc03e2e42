/** The demo page's "Groups" card: membership, a groupHereNow snapshot per group, kept live by events. */
import type { GroupPresenceEvent } from '../../client/index.js';
import { $, call, element, log, personRow, showError, type Person } from './dom.js';
import { session } from './session.js';
import { applyEvent } from './status.js';

export interface Group {
  id: string;
  onlineCount: number | undefined;
  /** Members in all, from the last snapshot; undefined before one. */
  total: number | undefined;
  members: Map<string, Person>;
}

/** Members listed when a group is joined (online first); later arrivals come from events. */
export const ROSTER_PAGE = 100;

export const groups = new Map<string, Group>();
const groupId = $<HTMLInputElement>('group-id');

export async function onJoin(event: SubmitEvent): Promise<void> {
  event.preventDefault();
  const id = groupId.value.trim();
  if (!session.client || !id) return;
  if (await enterGroup(id)) groupId.value = '';
}

/** Watch the group first, so this user's own join shows up in the member list. */
export async function enterGroup(id: string): Promise<boolean> {
  const client = session.client;
  if (!client) return false;
  if (!groups.has(id)) groups.set(id, { id, onlineCount: undefined, total: undefined, members: new Map() });
  renderGroups();
  const ok = (await call(client.subscribeGroupPresence({ groupIds: [id] }))) && (await call(client.subscribeGroup({ groupIds: [id] })));
  if (!ok) {
    groups.delete(id);
    renderGroups();
    return false;
  }
  await loadRoster(id);
  return true;
}

/**
 * The members already there, from a groupHereNow snapshot. Events arriving meanwhile are held back by
 * the client and reach updateGroup after this has drawn the snapshot, only those newer than it.
 */
export async function loadRoster(id: string): Promise<void> {
  const c = session.client;
  if (!c) return;
  let page;
  try {
    page = await c.groupHereNow({ groupId: id, limit: ROSTER_PAGE });
  } catch (error) {
    showError(error);
    return;
  }
  const group = groups.get(id);
  if (!group || c !== session.client) return;
  group.members = new Map(page.members.map((m) => [m.id, { id: m.id, data: m.data, online: m.online, lastSeen: m.lastSeen }]));
  group.onlineCount = page.onlineCount;
  group.total = page.total;
  renderGroups();
}

async function leaveGroup(id: string): Promise<void> {
  const client = session.client;
  if (client) {
    if (!(await call(client.unsubscribeGroup({ groupId: id })))) return;
    await call(client.unsubscribeGroupPresence({ groupId: id }));
    log('leave', `you left ${id}`);
  }
  groups.delete(id);
  renderGroups();
}

export function updateGroup(event: GroupPresenceEvent): void {
  const group = groups.get(event.groupId);
  if (!group) return;
  group.onlineCount = event.groupOnlineCount;
  if (group.total !== undefined && (event.action === 'join' || event.action === 'leave')) group.total += event.action === 'join' ? 1 : -1;
  if (event.action === 'leave') group.members.delete(event.id);
  else group.members.set(event.id, applyEvent({ id: event.id, data: {}, online: undefined, lastSeen: group.members.get(event.id)?.lastSeen }, event));
  renderGroups();
}

export function renderGroups(): void {
  const container = $('group-list');
  container.replaceChildren();
  if (groups.size === 0) container.append(element('p', 'empty', 'Join a group to see its members.'));
  for (const group of groups.values()) {
    const box = element('div', 'group');
    box.dataset.group = group.id;
    const header = element('header');
    const leave = element('button', 'secondary small', 'leave');
    leave.addEventListener('click', () => void leaveGroup(group.id));
    const count = element('span', 'count', group.onlineCount === undefined ? '…' : `${group.onlineCount} online`);
    count.dataset.count = String(group.onlineCount ?? '');
    header.append(element('b', '', group.id), count, leave);
    const members = element('ul', 'people');
    const sorted = [...group.members.values()].sort((a, b) => Number(b.online) - Number(a.online) || a.id.localeCompare(b.id));
    for (const member of sorted) members.append(personRow(member));
    const hidden = group.total === undefined ? 0 : group.total - group.members.size;
    const hint = hidden > 0 ? `${hidden} more members not listed (the first ${ROSTER_PAGE} are shown, online first); they appear as they come and go.` : 'Kept live from join, leave, online and offline events.';
    box.append(header, members, element('p', 'hint', hint));
    container.append(box);
  }
}

/** The demo page's "Watched users" card: subscribeUserPresence and a live roster. */
import type { UserPresenceEvent } from '../../client/index.js';
import { $, call, element, personRow, type Person } from './dom.js';
import { session } from './session.js';
import { applyEvent } from './status.js';

export const roster = new Map<string, Person>();
const watchIds = $<HTMLInputElement>('watch-ids');

export async function onWatch(event: SubmitEvent): Promise<void> {
  event.preventDefault();
  const client = session.client;
  const ids = watchIds.value.split(/[\s,]+/).filter(Boolean);
  if (!client || ids.length === 0) return;
  if (await call(client.subscribeUserPresence({ userIds: ids }))) {
    for (const id of ids) {
      if (!roster.has(id)) roster.set(id, { id, data: {}, online: undefined });
      const known = client.presenceOf(id);
      if (known) updatePerson(known);
    }
    watchIds.value = '';
    renderRoster();
  }
}

async function unwatch(id: string): Promise<void> {
  const client = session.client;
  if (client && !(await call(client.unsubscribeUserPresence({ userIds: [id] })))) return;
  roster.delete(id);
  renderRoster();
}

export function updatePerson(event: UserPresenceEvent): void {
  const person = roster.get(event.id);
  if (!person) return;
  applyEvent(person, event);
  renderRoster();
}

export function renderRoster(): void {
  const list = $('roster');
  list.replaceChildren();
  if (roster.size === 0) list.append(element('li', 'empty', 'Watch users to see them come and go.'));
  for (const person of roster.values()) {
    const remove = element('button', 'secondary small', 'unwatch');
    remove.addEventListener('click', () => void unwatch(person.id));
    list.append(personRow(person, remove));
  }
  const online = [...roster.values()].filter((p) => p.online).length;
  $('users-count').textContent = roster.size ? `${online} of ${roster.size} online` : '';
}

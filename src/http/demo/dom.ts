/**
 * The demo page's shared pieces: DOM helpers, person rows and avatars, the status pill, the error box
 * and the event log. Everything is drawn with DOM calls only: ids and names come from other users.
 */
import type { UserData } from '../../client/index.js';
import { describe } from './status.js';

export interface Person {
  id: string;
  data: UserData;
  /** undefined while not known yet. */
  online: boolean | undefined;
  /** When the user was last seen online (ms since the epoch), for offline users. */
  lastSeen?: number;
}

const MAX_LOG = 200;

export const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

export function personRow(person: Person, action?: HTMLElement): HTMLLIElement {
  const row = element('li');
  row.dataset.user = person.id;
  row.dataset.online = person.online === undefined ? 'unknown' : String(person.online);
  const avatar = element('span', 'avatar');
  paintAvatar(avatar, person.id, person.data);
  avatar.append(element('span', 'dot'));
  const who = element('span', 'who');
  const name = typeof person.data.name === 'string' && person.data.name ? person.data.name : person.id;
  who.append(element('b', '', name), element('span', '', describe(person)));
  row.append(avatar, who);
  if (action) row.append(action);
  return row;
}

export function paintAvatar(avatar: HTMLElement, id: string, data: UserData): void {
  const name = typeof data.name === 'string' && data.name ? data.name : id;
  avatar.firstChild?.nodeType === Node.TEXT_NODE ? (avatar.firstChild.textContent = initial(name)) : avatar.prepend(initial(name));
  avatar.style.background = isColour(data.avatar) ? data.avatar : '';
}

function initial(name: string): string {
  return (Array.from(name.trim())[0] ?? '?').toUpperCase();
}

export function isColour(value: unknown): value is string {
  return typeof value === 'string' && /^#[0-9a-f]{6}$/i.test(value);
}

export function label(event: { id: string; data: UserData }): string {
  return typeof event.data.name === 'string' && event.data.name && event.data.name !== event.id ? `${event.data.name} (${event.id})` : event.id;
}

/** Runs a client call; a failure is shown and logged. */
export async function call(promise: Promise<unknown>): Promise<boolean> {
  try {
    await promise;
    return true;
  } catch (error) {
    showError(error);
    return false;
  }
}

export function showError(error: unknown): void {
  const box = $('error');
  if (!error) {
    box.hidden = true;
    return;
  }
  const { code, content } = error as { code?: number; content?: string };
  box.textContent = content ? `${content} (${code})` : String(error);
  box.hidden = false;
  log('error', box.textContent);
}

export function setStatus(status: string): void {
  const pill = $('status');
  pill.dataset.status = status;
  pill.textContent = status;
}

export function log(kind: string, text: string): void {
  const list = $('log');
  const item = element('li');
  item.dataset.kind = kind;
  item.append(element('time', '', new Date().toLocaleTimeString()), element('span', `tag ${kind}`, kind), element('span', 'text', text));
  list.prepend(item);
  while (list.children.length > MAX_LOG) list.lastElementChild?.remove();
}

export function element<K extends keyof HTMLElementTagNameMap>(tag: K, className = '', text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

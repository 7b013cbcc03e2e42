/**
 * The demo's status line and "last seen": a status field that updates this user's data in place
 * (updatePresence, watchers get an `update` event), and how a person's row describes its state.
 * Rendering stays DOM-only, as in app.ts: statuses come from other users and are never HTML.
 */
import type { PresenceClient, UserData } from '../../client/index.js';

/** What a row needs to describe a person. */
export interface Described {
  id: string;
  data: UserData;
  online: boolean | undefined;
  lastSeen?: number;
}

/** At most this many characters of status are sent. */
const MAX_STATUS = 80;

let status = '';

/** The user's data with the current status added (when there is one). */
export function withStatus(data: UserData): UserData {
  return status ? { ...data, status } : data;
}

/** A person after a user or group event: `update` keeps it online; an offline's time is its lastSeen. */
export function applyEvent<T extends Described>(person: T, event: { action: string; data: UserData; time: number }): T {
  person.data = event.data;
  person.online = event.action !== 'offline';
  if (event.action === 'offline') person.lastSeen = event.time;
  return person;
}

/** `alice · online · busy`, `alice · offline · last seen 5 min ago`, `alice · unknown`. */
export function describe(person: Described, now = Date.now()): string {
  const parts = [person.id, person.online === undefined ? 'unknown' : person.online ? 'online' : 'offline'];
  const said = typeof person.data.status === 'string' ? person.data.status.slice(0, MAX_STATUS) : '';
  if (said) parts.push(said);
  if (person.online === false && person.lastSeen !== undefined) parts.push(`last seen ${ago(person.lastSeen, now)}`);
  return parts.join(' · ');
}

/** `just now`, `5 min ago`, `3 h ago`, else the date. */
export function ago(time: number, now = Date.now()): string {
  const seconds = Math.max(0, Math.round((now - time) / 1000));
  if (seconds < 60) return 'just now';
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`;
  return `on ${new Date(time).toLocaleDateString()}`;
}

export interface StatusOptions {
  client: () => PresenceClient | undefined;
  /** The user's data without the status (name, avatar). */
  data: () => UserData;
  showError: (error: unknown) => void;
  log: (kind: string, text: string) => void;
  /** Redraws the rows, so "last seen" stays current. */
  render: () => void;
}

/** Adds the status field under the connect form and keeps "last seen" texts current. */
export function mountStatus(options: StatusOptions): void {
  const form = document.createElement('form');
  form.id = 'status-form';
  form.className = 'inline';
  form.autocomplete = 'off';
  const input = document.createElement('input');
  input.id = 'user-status';
  input.placeholder = 'status, e.g. busy';
  input.maxLength = MAX_STATUS;
  input.setAttribute('aria-label', 'Your status');
  const button = document.createElement('button');
  button.type = 'submit';
  button.textContent = 'Set status';
  form.append(input, button);
  document.getElementById('me')?.append(form);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    status = input.value.trim();
    const client = options.client();
    if (!client) return; // sent with the next connect
    client.updatePresence({ data: withStatus(options.data()) }).then(
      () => options.log('update', status ? `your status is now "${status}"` : 'your status is cleared'),
      (error: unknown) => options.showError(error),
    );
  });
  setInterval(options.render, 30_000);
}

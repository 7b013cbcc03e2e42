/**
 * The demo page: one user, a roster of watched users, groups with their members, an event log.
 * It imports the client from the served bundle (/client/presence-bridge.js, see scripts/bundle.mjs)
 * and renders with DOM calls only: every id and name comes from other users, so nothing is HTML.
 */
import {
  CLIENT_EVENT,
  IM_EVENT,
  connect,
  type GroupPresenceEvent,
  type PresenceClient,
  type UserData,
  type UserPresenceEvent,
} from '../../client/index.js';
import { showIntervalEvent } from './large-group.js';
import { applyEvent, describe, mountStatus, withStatus } from './status.js';

interface Person {
  id: string;
  data: UserData;
  /** undefined while not known yet. */
  online: boolean | undefined;
  lastSeen?: number;
}

interface Group {
  id: string;
  onlineCount: number | undefined;
  /** Members in all, from the last snapshot; undefined before one. */
  total: number | undefined;
  members: Map<string, Person>;
}

const SWATCHES = ['#3b82f6', '#22c55e', '#f59e0b', '#ef4444', '#a855f7', '#ec4899', '#14b8a6', '#64748b'];
const MAX_LOG = 200;
/** Members listed when a group is joined (online first); later arrivals come from events. */
const ROSTER_PAGE = 100;
const STORAGE_KEY = 'presence-bridge-demo';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const form = {
  connect: $<HTMLFormElement>('connect-form'),
  id: $<HTMLInputElement>('user-id'),
  name: $<HTMLInputElement>('user-name'),
  colour: $<HTMLInputElement>('user-colour'),
  connectButton: $<HTMLButtonElement>('connect'),
  disconnectButton: $<HTMLButtonElement>('disconnect'),
  watch: $<HTMLFormElement>('watch-form'),
  watchIds: $<HTMLInputElement>('watch-ids'),
  join: $<HTMLFormElement>('join-form'),
  groupId: $<HTMLInputElement>('group-id'),
};

let client: PresenceClient | undefined;
const roster = new Map<string, Person>();
const groups = new Map<string, Group>();

// ---- the user -------------------------------------------------------------------------------

function restoreForm(): void {
  let saved: { id?: string; name?: string; colour?: string } = {};
  try {
    saved = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? '{}') as typeof saved;
  } catch {
    // a broken entry is as good as none
  }
  form.id.value = saved.id ?? `user-${Math.random().toString(36).slice(2, 6)}`;
  form.name.value = saved.name ?? '';
  form.colour.value = isColour(saved.colour) ? saved.colour : SWATCHES[Math.floor(Math.random() * SWATCHES.length)]!;
  const swatches = $('swatches');
  for (const colour of SWATCHES) {
    const button = element('button', 'swatch', '');
    button.type = 'button';
    button.style.background = colour;
    button.title = colour;
    button.setAttribute('aria-label', `avatar colour ${colour}`);
    button.addEventListener('click', () => {
      form.colour.value = colour;
      renderMe();
    });
    swatches.insertBefore(button, form.colour);
  }
  renderMe();
}

function myData(): UserData {
  const name = form.name.value.trim();
  return { name: name || form.id.value.trim(), avatar: form.colour.value };
}

function renderMe(): void {
  const avatar = $('my-avatar');
  paintAvatar(avatar, form.id.value, myData());
  for (const swatch of Array.from($('swatches').children)) {
    swatch.setAttribute('aria-pressed', String((swatch as HTMLElement).title === form.colour.value));
  }
}

async function onConnect(event: SubmitEvent): Promise<void> {
  event.preventDefault();
  const id = form.id.value.trim();
  const data = withStatus(myData());
  showError(undefined);
  setStatus('connecting');
  form.connectButton.disabled = true;
  try {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    client = await connect({ url: `${scheme}://${location.host}/mqtt`, id, data });
  } catch (error) {
    form.connectButton.disabled = false;
    setStatus('disconnected');
    showError(error);
    return;
  }
  localStorage.setItem(STORAGE_KEY, JSON.stringify({ id, name: form.name.value.trim(), colour: form.colour.value }));
  wire(client);
  setStatus('connected');
  setConnectedControls(true);
  log('online', `connected as ${id}`);
  // Coming back: watch and join again what the page showed before.
  if (roster.size > 0) void call(client.subscribeUserPresence({ userIds: [...roster.keys()] }));
  for (const group of groups.values()) void enterGroup(group.id);
}

function wire(c: PresenceClient): void {
  c.on(IM_EVENT.USER_PRESENCE, (event) => {
    updatePerson(event);
    log(event.action, `${label(event)} is ${event.action === 'update' ? `now "${String(event.data.status ?? '')}"` : event.action}${event.reason ? ` (${event.reason})` : ''}`);
  });
  c.on(CLIENT_EVENT.SNAPSHOT, (event) => {
    updatePerson(event);
    log('state', `${label(event)} is ${event.action}`);
  });
  c.on(IM_EVENT.GROUP_PRESENCE, (event) => {
    if (showIntervalEvent(event, groups.get(event.groupId), { cap: ROSTER_PAGE, render: renderGroups, log })) return;
    updateGroup(event);
    const verb = { join: 'joined', leave: 'left', online: 'is online in', offline: 'is offline in', update: 'updated their status in' }[event.action];
    log(event.action, `${label(event)} ${verb} ${event.groupId} (${event.groupOnlineCount} online)`);
  });
  c.on(CLIENT_EVENT.CONNECTION, ({ status }) => {
    if (c !== client) return;
    setStatus(status);
    log(status === 'connected' ? 'online' : 'offline', `connection ${status}`);
    // Group events are not retained: what happened while the link was down is read again.
    if (status === 'connected') for (const group of groups.values()) void loadRoster(group.id);
  });
  c.on(CLIENT_EVENT.ERROR, (error) => log('error', `${error.code}: ${error.content}`));
}

async function onDisconnect(): Promise<void> {
  const c = client;
  if (!c) return;
  client = undefined;
  setConnectedControls(false);
  await c.disconnect();
  for (const person of roster.values()) person.online = undefined;
  for (const group of groups.values()) {
    group.members.clear();
    group.onlineCount = undefined;
    group.total = undefined;
  }
  renderRoster();
  renderGroups();
  setStatus('disconnected');
  log('offline', 'disconnected');
}

// ---- watched users --------------------------------------------------------------------------

async function onWatch(event: SubmitEvent): Promise<void> {
  event.preventDefault();
  const ids = form.watchIds.value.split(/[\s,]+/).filter(Boolean);
  if (!client || ids.length === 0) return;
  if (await call(client.subscribeUserPresence({ userIds: ids }))) {
    for (const id of ids) {
      if (!roster.has(id)) roster.set(id, { id, data: {}, online: undefined });
      const known = client.presenceOf(id);
      if (known) updatePerson(known);
    }
    form.watchIds.value = '';
    renderRoster();
  }
}

async function unwatch(id: string): Promise<void> {
  if (client && !(await call(client.unsubscribeUserPresence({ userIds: [id] })))) return;
  roster.delete(id);
  renderRoster();
}

function updatePerson(event: UserPresenceEvent): void {
  const person = roster.get(event.id);
  if (!person) return;
  applyEvent(person, event);
  renderRoster();
}

function renderRoster(): void {
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

// ---- groups ---------------------------------------------------------------------------------

async function onJoin(event: SubmitEvent): Promise<void> {
  event.preventDefault();
  const id = form.groupId.value.trim();
  if (!client || !id) return;
  if (await enterGroup(id)) form.groupId.value = '';
}

/** Watch the group first, so this user's own join shows up in the member list. */
async function enterGroup(id: string): Promise<boolean> {
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
async function loadRoster(id: string): Promise<void> {
  const c = client;
  if (!c) return;
  let page;
  try {
    page = await c.groupHereNow({ groupId: id, limit: ROSTER_PAGE });
  } catch (error) {
    showError(error);
    return;
  }
  const group = groups.get(id);
  if (!group || c !== client) return;
  group.members = new Map(page.members.map((m) => [m.id, { id: m.id, data: m.data, online: m.online, lastSeen: m.lastSeen }]));
  group.onlineCount = page.onlineCount;
  group.total = page.total;
  renderGroups();
}

async function leaveGroup(id: string): Promise<void> {
  if (client) {
    if (!(await call(client.unsubscribeGroup({ groupId: id })))) return;
    await call(client.unsubscribeGroupPresence({ groupId: id }));
    log('leave', `you left ${id}`);
  }
  groups.delete(id);
  renderGroups();
}

function updateGroup(event: GroupPresenceEvent): void {
  const group = groups.get(event.groupId);
  if (!group) return;
  group.onlineCount = event.groupOnlineCount;
  if (group.total !== undefined && (event.action === 'join' || event.action === 'leave')) group.total += event.action === 'join' ? 1 : -1;
  if (event.action === 'leave') group.members.delete(event.id);
  else group.members.set(event.id, applyEvent({ id: event.id, data: {}, online: undefined, lastSeen: group.members.get(event.id)?.lastSeen }, event));
  renderGroups();
}

function renderGroups(): void {
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

// ---- shared pieces --------------------------------------------------------------------------

function personRow(person: Person, action?: HTMLElement): HTMLLIElement {
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

function paintAvatar(avatar: HTMLElement, id: string, data: UserData): void {
  const name = typeof data.name === 'string' && data.name ? data.name : id;
  avatar.firstChild?.nodeType === Node.TEXT_NODE ? (avatar.firstChild.textContent = initial(name)) : avatar.prepend(initial(name));
  avatar.style.background = isColour(data.avatar) ? data.avatar : '';
}

function initial(name: string): string {
  return (Array.from(name.trim())[0] ?? '?').toUpperCase();
}

function isColour(value: unknown): value is string {
  return typeof value === 'string' && /^#[0-9a-f]{6}$/i.test(value);
}

function label(event: { id: string; data: UserData }): string {
  return typeof event.data.name === 'string' && event.data.name && event.data.name !== event.id ? `${event.data.name} (${event.id})` : event.id;
}

/** Runs a client call; a failure is shown and logged. */
async function call(promise: Promise<unknown>): Promise<boolean> {
  try {
    await promise;
    return true;
  } catch (error) {
    showError(error);
    return false;
  }
}

function showError(error: unknown): void {
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

function setStatus(status: string): void {
  const pill = $('status');
  pill.dataset.status = status;
  pill.textContent = status;
}

function setConnectedControls(connected: boolean): void {
  form.connectButton.disabled = connected;
  form.disconnectButton.disabled = !connected;
  form.id.disabled = connected;
  form.name.disabled = connected;
  form.colour.disabled = connected;
  for (const button of Array.from(document.querySelectorAll<HTMLButtonElement>('#watch-form button, #join-form button, .swatch'))) {
    button.disabled = button.classList.contains('swatch') ? connected : !connected;
  }
}

function log(kind: string, text: string): void {
  const list = $('log');
  const item = element('li');
  item.dataset.kind = kind;
  item.append(element('time', '', new Date().toLocaleTimeString()), element('span', `tag ${kind}`, kind), element('span', 'text', text));
  list.prepend(item);
  while (list.children.length > MAX_LOG) list.lastElementChild?.remove();
}

function element<K extends keyof HTMLElementTagNameMap>(tag: K, className = '', text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

form.connect.addEventListener('submit', (event) => void onConnect(event));
form.disconnectButton.addEventListener('click', () => void onDisconnect());
form.watch.addEventListener('submit', (event) => void onWatch(event));
form.join.addEventListener('submit', (event) => void onJoin(event));
form.id.addEventListener('input', renderMe);
form.name.addEventListener('input', renderMe);
form.colour.addEventListener('input', renderMe);
$('clear-log').addEventListener('click', () => $('log').replaceChildren());
// Best effort: tell the others at once rather than when the socket times out.
addEventListener('pagehide', () => void client?.disconnect());
restoreForm();
mountStatus({ client: () => client, data: myData, showError, log, render: () => (renderRoster(), renderGroups()) });

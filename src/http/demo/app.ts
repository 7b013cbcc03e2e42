/**
 * The demo page: one user, a roster of watched users, groups with their members, an event log.
 * It imports the client from the served bundle (/client/presence-bridge.js, see scripts/bundle.mjs)
 * and renders with DOM calls only: every id and name comes from other users, so nothing is HTML.
 * This file is the user's card and the page's wiring; the other cards live beside it (users.ts,
 * groups.ts), with the shared pieces in dom.ts and the connection in session.ts.
 */
import { CLIENT_EVENT, IM_EVENT, connect, type PresenceClient, type UserData } from '../../client/index.js';
import { credential, lockCredentials, showCredentialFields } from './credentials.js';
import { $, call, element, isColour, label, log, paintAvatar, setStatus, showError } from './dom.js';
import { enterGroup, groups, loadRoster, onJoin, renderGroups, ROSTER_PAGE, updateGroup } from './groups.js';
import { showIntervalEvent } from './large-group.js';
import { session } from './session.js';
import { mountStatus, withStatus } from './status.js';
import { onWatch, renderRoster, roster, updatePerson } from './users.js';

const SWATCHES = ['#3b82f6', '#22c55e', '#f59e0b', '#ef4444', '#a855f7', '#ec4899', '#14b8a6', '#64748b'];
const STORAGE_KEY = 'presence-bridge-demo';

const form = {
  connect: $<HTMLFormElement>('connect-form'),
  id: $<HTMLInputElement>('user-id'),
  name: $<HTMLInputElement>('user-name'),
  colour: $<HTMLInputElement>('user-colour'),
  connectButton: $<HTMLButtonElement>('connect'),
  disconnectButton: $<HTMLButtonElement>('disconnect'),
  watch: $<HTMLFormElement>('watch-form'),
  join: $<HTMLFormElement>('join-form'),
};

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
  let client: PresenceClient;
  try {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    client = await connect({ url: `${scheme}://${location.host}/mqtt`, id, data, password: credential() });
  } catch (error) {
    form.connectButton.disabled = false;
    setStatus('disconnected');
    showError(error);
    return;
  }
  session.client = client;
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
    if (c !== session.client) return;
    setStatus(status);
    log(status === 'connected' ? 'online' : 'offline', `connection ${status}`);
    // Group events are not retained: what happened while the link was down is read again.
    if (status === 'connected') for (const group of groups.values()) void loadRoster(group.id);
  });
  c.on(CLIENT_EVENT.ERROR, (error) => log('error', `${error.code}: ${error.content}`));
}

async function onDisconnect(): Promise<void> {
  const c = session.client;
  if (!c) return;
  session.client = undefined;
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

function setConnectedControls(connected: boolean): void {
  form.connectButton.disabled = connected;
  form.disconnectButton.disabled = !connected;
  form.id.disabled = connected;
  form.name.disabled = connected;
  form.colour.disabled = connected;
  lockCredentials(connected);
  for (const button of Array.from(document.querySelectorAll<HTMLButtonElement>('#watch-form button, #join-form button, .swatch'))) {
    button.disabled = button.classList.contains('swatch') ? connected : !connected;
  }
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
addEventListener('pagehide', () => void session.client?.disconnect());
restoreForm();
mountStatus({ client: () => session.client, data: myData, showError, log, render: () => (renderRoster(), renderGroups()) });
void showCredentialFields();

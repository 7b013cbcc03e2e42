import { CLIENT_EVENT, ERROR_CODE, IM_EVENT, connect, PresenceClientError, type PresenceClient } from '../client/index.js';
import { ConfigError } from '../config.js';
import { flag, parseFlags, type FlagTable } from './flags.js';
import type { CommandHelp } from './help.js';
import { onSignals } from './serve.js';

const WATCH_FLAGS: FlagTable = {
  url: flag('url', 'string', 'the server: mqtt://host:1883, ws://host:8080/mqtt (serve), or the attached broker', 'URL'),
  users: flag('users', 'string', 'user ids to watch, comma separated', 'a,b'),
  groups: flag('groups', 'string', 'group ids to watch, comma separated', 'g,h'),
  id: flag('id', 'string', 'the MQTT client id and user id to connect as (default watch-<random>)', 'ID'),
  password: flag('password', 'string', 'password or JWT, when the server requires authentication'),
  'changes-only': flag('changesOnly', 'boolean', 'print no snapshot of the current state, only changes'),
};

export const WATCH_HELP: CommandHelp = {
  name: 'watch',
  summary: 'print presence events as JSON lines',
  usage: '--url URL [--users a,b] [--groups g,h] [options]',
  flags: WATCH_FLAGS,
  notes: [
    'One JSON line per event on stdout; the current state first ("snapshot": true). Status and errors go to stderr.',
    'Ids the server refuses to let this user watch are reported once on stderr; the others are still watched.',
  ],
  examples: [
    'presence-bridge watch --url mqtt://127.0.0.1:1883 --users alice,bob --groups lobby',
    'presence-bridge watch --url ws://127.0.0.1:8080/mqtt --groups lobby --changes-only',
    'presence-bridge watch --url mqtt://broker:1883 --id ops --password secret --users alice',
  ],
};

export type LineSink = (line: string) => void;

export interface Watch {
  client: PresenceClient;
  stop(): Promise<void>;
}

/**
 * `presence-bridge watch`: one JSON line per event on stdout, built on the thin client, so it works
 * against serve and attach alike. Each line is the event as published plus `type` (`user` or
 * `group`); a user's current state learned when the watch starts is printed with `"snapshot": true`
 * (leave it out with --changes-only). Connection changes and errors go to stderr, also as JSON.
 */
export async function startWatch(
  args: string[],
  out: LineSink = (line) => process.stdout.write(line + '\n'),
  err: LineSink = (line) => process.stderr.write(line + '\n'),
): Promise<Watch> {
  const values = parseFlags(args, WATCH_FLAGS).values as { url?: string; users?: string; groups?: string; id?: string; password?: string; changesOnly?: boolean };
  if (!values.url) throw new ConfigError('watch needs --url, e.g. --url mqtt://127.0.0.1:1883 or ws://127.0.0.1:8080/mqtt');
  let users = list(values.users);
  let groups = list(values.groups);
  if (users.length === 0 && groups.length === 0) throw new ConfigError('watch needs --users a,b and/or --groups g,h');

  const status = (fields: Record<string, unknown>) => err(JSON.stringify({ time: new Date().toISOString(), ...fields }));
  const client = await connect({
    url: values.url,
    id: values.id ?? `watch-${Math.random().toString(16).slice(2, 10)}`,
    password: values.password,
    data: { watcher: true },
  });
  client.on(IM_EVENT.USER_PRESENCE, (event) => out(JSON.stringify({ type: 'user', ...event })));
  client.on(IM_EVENT.GROUP_PRESENCE, (event) => out(JSON.stringify({ type: 'group', ...event })));
  if (!values.changesOnly) client.on(CLIENT_EVENT.SNAPSHOT, (event) => out(JSON.stringify({ type: 'user', snapshot: true, ...event })));
  client.on(CLIENT_EVENT.CONNECTION, ({ status: connection }) => status({ level: 'info', msg: 'connection', status: connection }));
  client.on(CLIENT_EVENT.ERROR, ({ code, content }) => status({ level: 'warn', msg: content, code }));
  try {
    const refusedUsers = await subscribeEach(users, (ids) => client.subscribeUserPresence({ userIds: ids }));
    const refusedGroups = await subscribeEach(groups, (ids) => client.subscribeGroupPresence({ groupIds: ids }));
    users = users.filter((id) => !refusedUsers.includes(id));
    groups = groups.filter((id) => !refusedGroups.includes(id));
    if (refusedUsers.length || refusedGroups.length) {
      status({ level: 'warn', msg: 'the server refused to let this user watch some ids; watching the rest', code: ERROR_CODE.NOT_AUTHORIZED, users: refusedUsers, groups: refusedGroups });
    }
    if (users.length === 0 && groups.length === 0) {
      throw new PresenceClientError(ERROR_CODE.NOT_AUTHORIZED, 'the server refused every subscription: nothing left to watch (check --id and --password)');
    }
  } catch (error) {
    await client.disconnect();
    throw error;
  }
  status({ level: 'info', msg: 'watching', url: values.url, users, groups });
  return { client, stop: () => client.disconnect() };
}

export async function runWatch(args: string[]): Promise<void> {
  let watch: Watch;
  try {
    watch = await startWatch(args);
  } catch (error) {
    if (!(error instanceof PresenceClientError)) throw error;
    // The server said no, or was not there: a clear line and a failing exit code, not a stack.
    const fix = error.code === ERROR_CODE.UNREACHABLE ? '; is the server running there? check --url' : error.code === ERROR_CODE.NOT_AUTHORIZED ? '; check --id and --password' : '';
    process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level: 'error', msg: error.content + fix, code: error.code }) + '\n');
    process.exitCode = 1;
    return;
  }
  onSignals(() => watch.stop());
}

/**
 * Subscribes to all ids in one go; when the server refuses some (a watch policy), subscribes to them
 * one by one to learn which, and returns the refused ones. Any other failure is thrown.
 */
async function subscribeEach(ids: string[], subscribe: (ids: string[]) => Promise<unknown>): Promise<string[]> {
  if (ids.length === 0) return [];
  try {
    await subscribe(ids);
    return [];
  } catch (error) {
    if (!(error instanceof PresenceClientError) || error.code !== ERROR_CODE.NOT_AUTHORIZED) throw error;
  }
  const refused: string[] = [];
  for (const id of ids) {
    try {
      await subscribe([id]);
    } catch (error) {
      if (!(error instanceof PresenceClientError) || error.code !== ERROR_CODE.NOT_AUTHORIZED) throw error;
      refused.push(id);
    }
  }
  return refused;
}

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((id) => id.trim())
    .filter(Boolean);
}

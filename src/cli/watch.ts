import { parseArgs } from 'node:util';
import { CLIENT_EVENT, IM_EVENT, connect, PresenceClientError, type PresenceClient } from '../client/index.js';
import { ConfigError } from '../config.js';
import { onSignals } from './serve.js';

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
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      url: { type: 'string' },
      users: { type: 'string' },
      groups: { type: 'string' },
      id: { type: 'string' },
      password: { type: 'string' },
      'changes-only': { type: 'boolean' },
    },
  });
  if (!values.url) throw new ConfigError('watch needs --url, e.g. --url mqtt://127.0.0.1:1883 or ws://127.0.0.1:8080/mqtt');
  const users = list(values.users);
  const groups = list(values.groups);
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
  if (!values['changes-only']) client.on(CLIENT_EVENT.SNAPSHOT, (event) => out(JSON.stringify({ type: 'user', snapshot: true, ...event })));
  client.on(CLIENT_EVENT.CONNECTION, ({ status: connection }) => status({ level: 'info', msg: 'connection', status: connection }));
  client.on(CLIENT_EVENT.ERROR, ({ code, content }) => status({ level: 'warn', msg: content, code }));
  try {
    if (users.length) await client.subscribeUserPresence({ userIds: users });
    if (groups.length) await client.subscribeGroupPresence({ groupIds: groups });
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
    process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level: 'error', msg: error.content, code: error.code }) + '\n');
    process.exitCode = 1;
    return;
  }
  onSignals(() => watch.stop());
}

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((id) => id.trim())
    .filter(Boolean);
}

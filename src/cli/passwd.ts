import { readFile, rename, writeFile } from 'node:fs/promises';
import { ConfigError } from '../config.js';
import { invalidIdReason } from '../protocol/ids.js';
import { hashPassword } from '../auth/password.js';
import { parseUsersFile, type UsersFileContent } from '../auth/users-file.js';
import { flag, parseFlags, type FlagTable } from './flags.js';
import type { CommandHelp } from './help.js';

const PASSWD_FLAGS: FlagTable = {
  file: flag('file', 'string', 'the users file (created, mode 0600, when it does not exist)'),
  delete: flag('delete', 'boolean', 'remove the user instead'),
};

export const PASSWD_HELP: CommandHelp = {
  name: 'passwd',
  summary: "write, update or remove a user's scrypt password hash in a users file",
  usage: '--file FILE [--delete] <userId>',
  flags: PASSWD_FLAGS,
  notes: ['The password is read from stdin, one line (prompted without echo on a terminal). serve --users-file FILE uses the file; SIGHUP re-reads it.'],
  examples: [
    'presence-bridge passwd --file users.json alice',
    "printf '%s\\n' \"$ALICE_PASSWORD\" | presence-bridge passwd --file users.json alice",
    'presence-bridge passwd --file users.json --delete alice',
  ],
};

/**
 * `presence-bridge passwd --file users.json alice`: reads the password from stdin (so it never shows in
 * `ps` or shell history), hashes it with scrypt and writes the file back atomically, mode 0600, keeping
 * every other entry, trusted data and groups as they were. Creates the file when it does not exist.
 */
export async function runPasswd(args: string[], stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => void } = process.stdin): Promise<void> {
  const parsed = parseFlags(args.map((arg) => (arg === '-f' ? '--file' : arg)), PASSWD_FLAGS, true);
  const values = parsed.values as { file?: string; delete?: boolean };
  const positionals = parsed.positionals;
  const path = values.file;
  if (!path) throw new ConfigError('passwd needs --file FILE');
  if (positionals.length !== 1) throw new ConfigError('passwd takes exactly one user id');
  const userId = positionals[0]!;
  const problem = invalidIdReason(userId);
  if (problem) throw new ConfigError(`invalid user id '${userId}': ${problem}`);

  const { content, created } = await load(path);
  let existed = false;
  if (values.delete) {
    if (!content.users[userId]) throw new ConfigError(`user '${userId}' is not in ${path}`);
    delete content.users[userId];
  } else {
    existed = content.users[userId] !== undefined;
    const password = await readPassword(stdin);
    if (password.length === 0) throw new ConfigError('empty password refused');
    content.users[userId] = { ...content.users[userId], password: await hashPassword(password) };
  }
  const text = JSON.stringify(content, null, 2) + '\n';
  parseUsersFile(text, path); // never write a file the server would refuse
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, text, { mode: 0o600 });
  await rename(temp, path);
  const verb = values.delete ? 'removed' : created ? 'created' : existed ? 'updated' : 'added';
  process.stderr.write(created ? `created ${path} with '${userId}'\n` : `${verb} '${userId}' in ${path}\n`);
}

async function load(path: string): Promise<{ content: UsersFileContent; created: boolean }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { content: { users: {} }, created: true };
    throw new ConfigError(`cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    parseUsersFile(text, path);
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  return { content: JSON.parse(text) as UsersFileContent, created: false };
}

/** One line from stdin; on a terminal, prompts without echoing. */
async function readPassword(stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => void }): Promise<string> {
  const tty = stdin.isTTY === true && typeof stdin.setRawMode === 'function';
  if (tty) {
    process.stderr.write('password: ');
    stdin.setRawMode!(true);
  }
  let text = '';
  stdin.setEncoding('utf8');
  for await (const chunk of stdin) {
    text += chunk as string;
    if (tty && text.includes('\u0003')) process.exit(130);
    if (/[\r\n]/.test(text)) break;
  }
  if (tty) {
    stdin.setRawMode!(false);
    process.stderr.write('\n');
  }
  stdin.pause();
  return text.split(/\r?\n|\r/)[0]!;
}

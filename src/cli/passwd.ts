import { readFile, rename, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ConfigError } from '../config.js';
import { invalidIdReason } from '../core/ids.js';
import { hashPassword } from '../auth/password.js';
import { parseUsersFile, type UsersFileContent } from '../auth/users-file.js';

export const PASSWD_USAGE = `  passwd    write or update a user's scrypt password hash in a users file
            --file FILE [--delete] <userId>    (the password is read from stdin, one line)
`;

/**
 * `presence-bridge passwd --file users.json alice`: reads the password from stdin (so it never shows in
 * `ps` or shell history), hashes it with scrypt and writes the file back atomically, mode 0600, keeping
 * every other entry, trusted data and groups as they were. Creates the file when it does not exist.
 */
export async function runPasswd(args: string[], stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => void } = process.stdin): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: { file: { type: 'string', short: 'f' }, delete: { type: 'boolean' } },
  });
  const path = values.file;
  if (!path) throw new ConfigError('passwd needs --file FILE');
  if (positionals.length !== 1) throw new ConfigError('passwd takes exactly one user id');
  const userId = positionals[0]!;
  const problem = invalidIdReason(userId);
  if (problem) throw new ConfigError(`invalid user id '${userId}': ${problem}`);

  const content = await load(path);
  if (values.delete) {
    if (!content.users[userId]) throw new ConfigError(`user '${userId}' is not in ${path}`);
    delete content.users[userId];
  } else {
    const password = await readPassword(stdin);
    if (password.length === 0) throw new ConfigError('empty password refused');
    content.users[userId] = { ...content.users[userId], password: await hashPassword(password) };
  }
  const text = JSON.stringify(content, null, 2) + '\n';
  parseUsersFile(text, path); // never write a file the server would refuse
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, text, { mode: 0o600 });
  await rename(temp, path);
  process.stderr.write(`${values.delete ? 'removed' : 'updated'} '${userId}' in ${path}\n`);
}

async function load(path: string): Promise<UsersFileContent> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { users: {} };
    throw new ConfigError(`cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    parseUsersFile(text, path);
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  return JSON.parse(text) as UsersFileContent;
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

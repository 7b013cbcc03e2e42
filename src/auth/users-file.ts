import { readFile } from 'node:fs/promises';
import type { JSONSchemaType } from 'ajv';
import type { UserData } from '../core/events.js';
import { invalidIdReason } from '../protocol/ids.js';
import { compile } from '../schemas/ajv.js';
import type { AuthOutcome, Authenticator, Credentials } from './authenticator.js';
import { parseHash, verifyPassword, type ParsedHash } from './password.js';

/**
 * The users file (JSON):
 * `{"users": {"alice": {"password": "scrypt$...", "data": {"name": "Alice"}, "groups": ["g1"]}}}`.
 * `password` may be left out for a user who only signs in with tokens but has trusted data or groups.
 */
export interface UserEntry {
  password?: string;
  data?: UserData;
  groups?: string[];
}

export interface UsersFileContent {
  users: Record<string, UserEntry>;
}

const ID = { type: 'string', minLength: 1, maxLength: 512 } as const;

const schema: JSONSchemaType<UsersFileContent> = {
  type: 'object',
  properties: {
    users: {
      type: 'object',
      required: [],
      additionalProperties: {
        type: 'object',
        properties: {
          password: { type: 'string', nullable: true, minLength: 1, maxLength: 512 },
          data: { type: 'object', nullable: true, required: [] },
          groups: { type: 'array', nullable: true, items: ID, maxItems: 10_000, uniqueItems: true },
        },
        additionalProperties: false,
      },
    },
  },
  required: ['users'],
  additionalProperties: false,
};

const check = compile(schema);

interface LoadedUser {
  hash?: ParsedHash;
  data?: UserData;
  groups?: readonly string[];
}

export class UsersFileError extends Error {}

/** Parses and checks the whole file; every problem is reported with the user it concerns. */
export function parseUsersFile(text: string, path: string): Map<string, LoadedUser> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new UsersFileError(`users file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  const checked = check(json);
  if (!checked.ok) throw new UsersFileError(`users file ${path} is invalid: ${checked.reason}`);
  const users = new Map<string, LoadedUser>();
  for (const [userId, entry] of Object.entries(checked.value.users)) {
    const idProblem = invalidIdReason(userId);
    if (idProblem) throw new UsersFileError(`users file ${path}: user id '${userId}' is invalid: ${idProblem}`);
    const loaded: LoadedUser = {};
    if (entry.password !== undefined) {
      const hash = parseHash(entry.password);
      if (!hash) throw new UsersFileError(`users file ${path}: user '${userId}' has a password that is not a scrypt hash (use presence-bridge passwd)`);
      loaded.hash = hash;
    }
    if (entry.data !== undefined) {
      if (Array.isArray(entry.data)) throw new UsersFileError(`users file ${path}: user '${userId}' data must be a JSON object`);
      loaded.data = entry.data;
    }
    if (entry.groups !== undefined) {
      const bad = entry.groups.find((g) => invalidIdReason(g));
      if (bad !== undefined) throw new UsersFileError(`users file ${path}: user '${userId}' group '${bad}' is invalid: ${invalidIdReason(bad)}`);
      loaded.groups = Object.freeze([...entry.groups]);
    }
    users.set(userId, loaded);
  }
  return users;
}

/** Username + password checked against scrypt hashes in a JSON users file; re-read on `reload()`. */
export class UsersFileAuthenticator implements Authenticator {
  readonly name = 'users-file';
  private users = new Map<string, LoadedUser>();

  private constructor(readonly path: string) {}

  static async open(path: string): Promise<UsersFileAuthenticator> {
    const authenticator = new UsersFileAuthenticator(path);
    await authenticator.reload();
    return authenticator;
  }

  get size(): number {
    return this.users.size;
  }

  async reload(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      throw new UsersFileError(`cannot read users file ${this.path}: ${(error as Error).message}`);
    }
    this.users = parseUsersFile(text, this.path);
  }

  claims(credentials: Credentials): boolean {
    return credentials.username !== undefined && credentials.username !== '';
  }

  async authenticate({ username, password }: Credentials): Promise<AuthOutcome> {
    const user = username === undefined ? undefined : this.users.get(username);
    // Unknown users cost a hash too, so timing does not tell which user ids exist.
    const hash = user?.hash ?? DUMMY;
    const ok = password !== undefined && (await verifyPassword(password, hash));
    if (!user?.hash || !ok) return { ok: false, code: 4, reason: 'bad user name or password' };
    return { ok: true, principal: { userId: username!, data: user.data, groups: user.groups } };
  }

  lookup(userId: string): { data?: UserData; groups?: readonly string[] } | undefined {
    const user = this.users.get(userId);
    return user && { data: user.data, groups: user.groups };
  }
}

// A fixed hash of a random password, same default cost as real ones.
const DUMMY: ParsedHash = parseHash(
  'scrypt$32768$8$1$3q2+7w3q2+7w3q2+7w3q2w==$y9dXoz9Nf0mE6cJ1C7QGz2bb3oC8zNYl9tY3XQmIJ5E=',
)!;

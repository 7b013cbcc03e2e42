import { readFile } from 'node:fs/promises';
import { SignJWT } from 'jose';
import { MIN_SECRET_BYTES } from '../auth/jwt.js';
import { ConfigError } from '../config.js';
import { invalidIdReason } from '../protocol/ids.js';
import { flag, parseFlags, type FlagTable } from './flags.js';
import type { CommandHelp } from './help.js';

const TOKEN_FLAGS: FlagTable = {
  'jwt-secret-file': flag('secretFile', 'string', 'the HS256 secret file serve --jwt-secret-file reads (trimmed the same way)'),
  'expires-in': flag('expiresIn', 'integer', 'seconds until the token expires (default 3600)', 'SECONDS'),
  issuer: flag('issuer', 'string', 'iss claim, when serve has --jwt-issuer'),
  audience: flag('audience', 'string', 'aud claim, when serve has --jwt-audience'),
  data: flag('data', 'string', 'trusted user data, a JSON object (the data claim)', 'JSON'),
  groups: flag('groups', 'string', 'groups the user may join, comma separated (the groups claim)', 'g,h'),
};

export const TOKEN_HELP: CommandHelp = {
  name: 'token',
  summary: 'print a signed HS256 token (JWT) for a user, to use as its MQTT password',
  usage: '--jwt-secret-file FILE [options] <userId>',
  flags: TOKEN_FLAGS,
  notes: [
    'For tests and first steps; production tokens come from your own login service, signed with the same secret.',
    `The secret file is read as text and trimmed (a final newline is not part of the secret); it must be at least ${MIN_SECRET_BYTES} bytes after that.`,
  ],
  examples: [
    'head -c 32 /dev/urandom | base64 > secret.txt',
    'presence-bridge token --jwt-secret-file secret.txt alice',
    `mosquitto_sub -t 'presence/#' -v -i alice-1 -u alice -P "$(presence-bridge token --jwt-secret-file secret.txt alice)"`,
  ],
};

/** `presence-bridge token`: a token the server started with the same secret file accepts, on stdout. */
export async function runToken(args: string[], out: (text: string) => void = (text) => process.stdout.write(text)): Promise<void> {
  const { values, positionals } = parseFlags(args, TOKEN_FLAGS, true);
  const options = values as { secretFile?: string; expiresIn?: number; issuer?: string; audience?: string; data?: string; groups?: string };
  if (!options.secretFile) throw new ConfigError('token needs --jwt-secret-file FILE');
  if (positionals.length !== 1) throw new ConfigError('token takes exactly one user id');
  const userId = positionals[0]!;
  const problem = invalidIdReason(userId);
  if (problem) throw new ConfigError(`invalid user id '${userId}': ${problem}`);
  let secret: string;
  try {
    // As JwtAuthenticator.fromFiles reads it: text, trimmed.
    secret = (await readFile(options.secretFile, 'utf8')).trim();
  } catch (error) {
    throw new ConfigError(`cannot read ${options.secretFile}: ${(error as Error).message}`);
  }
  if (Buffer.byteLength(secret) < MIN_SECRET_BYTES) {
    throw new ConfigError(`the secret in ${options.secretFile} is ${Buffer.byteLength(secret)} bytes after trimming; the server needs at least ${MIN_SECRET_BYTES}`);
  }
  const claims: Record<string, unknown> = {};
  if (options.data !== undefined) claims.data = jsonObject(options.data);
  if (options.groups !== undefined) claims.groups = options.groups.split(',').map((g) => g.trim()).filter(Boolean);
  let jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + (options.expiresIn ?? 3600));
  if (options.issuer) jwt = jwt.setIssuer(options.issuer);
  if (options.audience) jwt = jwt.setAudience(options.audience);
  out((await jwt.sign(Buffer.from(secret))) + '\n');
}

function jsonObject(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`--data is not JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigError('--data must be a JSON object');
  return value as Record<string, unknown>;
}

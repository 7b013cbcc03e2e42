import { readFile } from 'node:fs/promises';
import { createSecretKey, type KeyObject } from 'node:crypto';
import { errors, importSPKI, jwtVerify, type JWTPayload } from 'jose';
import type { UserData } from '../core/events.js';
import { invalidIdReason } from '../protocol/ids.js';
import type { AuthOutcome, Authenticator, Credentials } from './authenticator.js';

export interface JwtOptions {
  /** HS256 shared secret (at least 32 bytes). */
  secret?: string;
  /** RS256 public key, PEM (SPKI). */
  publicKeyPem?: string;
  issuer?: string;
  audience?: string;
  /** Seconds of clock skew tolerated on `exp`/`nbf`. */
  clockToleranceSec?: number;
  /** Longest lifetime accepted: a token whose `exp` lies further ahead is refused; 0 or none: no bound. */
  maxLifetimeSec?: number;
}

const COMPACT_JWS = /^[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]+$/;
export const MIN_SECRET_BYTES = 32;

export class JwtConfigError extends Error {}

/**
 * A signed token (HS256 or RS256) as the MQTT password. The user id is `sub`; a username, if given,
 * must equal it. `exp` is required: a token that never expires is a password that can never be revoked.
 * Optional claims `data` (trusted user data) and `groups` (groups the user may join).
 */
export class JwtAuthenticator implements Authenticator {
  readonly name = 'jwt';
  private readonly known = new Map<string, { data?: UserData; groups?: readonly string[] }>();

  private constructor(
    private readonly keys: { alg: 'HS256' | 'RS256'; key: KeyObject | CryptoKey }[],
    private readonly options: JwtOptions,
  ) {}

  static async create(options: JwtOptions): Promise<JwtAuthenticator> {
    const keys: { alg: 'HS256' | 'RS256'; key: KeyObject | CryptoKey }[] = [];
    if (options.secret !== undefined) {
      if (Buffer.byteLength(options.secret) < MIN_SECRET_BYTES) {
        throw new JwtConfigError(`the JWT secret must be at least ${MIN_SECRET_BYTES} bytes`);
      }
      keys.push({ alg: 'HS256', key: createSecretKey(Buffer.from(options.secret)) });
    }
    if (options.publicKeyPem !== undefined) {
      try {
        keys.push({ alg: 'RS256', key: await importSPKI(options.publicKeyPem, 'RS256') });
      } catch (error) {
        throw new JwtConfigError(`the JWT public key is not an RS256 SPKI PEM key: ${(error as Error).message}`);
      }
    }
    if (keys.length === 0) throw new JwtConfigError('JWT authentication needs a secret or a public key');
    return new JwtAuthenticator(keys, options);
  }

  static async fromFiles(files: { secretFile?: string; publicKeyFile?: string; secret?: string } & Omit<JwtOptions, 'secret' | 'publicKeyPem'>): Promise<JwtAuthenticator> {
    const read = async (path: string) => {
      try {
        return await readFile(path, 'utf8');
      } catch (error) {
        throw new JwtConfigError(`cannot read ${path}: ${(error as Error).message}`);
      }
    };
    const secret = files.secretFile !== undefined ? (await read(files.secretFile)).trim() : files.secret;
    const publicKeyPem = files.publicKeyFile !== undefined ? await read(files.publicKeyFile) : undefined;
    return JwtAuthenticator.create({ ...files, secret, publicKeyPem });
  }

  claims({ password }: Credentials): boolean {
    return password !== undefined && password.length < 16_384 && COMPACT_JWS.test(password.toString('latin1'));
  }

  async authenticate({ username, password }: Credentials): Promise<AuthOutcome> {
    const token = password!.toString('latin1');
    let payload: JWTPayload | undefined;
    let failure = 'invalid token';
    for (const { alg, key } of this.keys) {
      try {
        ({ payload } = await jwtVerify(token, key, {
          algorithms: [alg],
          issuer: this.options.issuer,
          audience: this.options.audience,
          clockTolerance: this.options.clockToleranceSec ?? 0,
          requiredClaims: ['sub', 'exp'],
        }));
        break;
      } catch (error) {
        failure = describe(error);
        // An expired or otherwise invalid but correctly signed token is final; a signature or
        // algorithm mismatch may still verify under the next key.
        if (!(error instanceof errors.JWSSignatureVerificationFailed || error instanceof errors.JOSEAlgNotAllowed)) break;
      }
    }
    if (!payload) return { ok: false, code: 4, reason: `bad user name or password: ${failure}` };
    const maxLifetime = this.options.maxLifetimeSec ?? 0;
    // A token valid for years is a password that cannot be revoked: the operator bounds how far ahead `exp` may lie.
    if (maxLifetime > 0 && payload.exp! - Date.now() / 1000 > maxLifetime + (this.options.clockToleranceSec ?? 0)) {
      return { ok: false, code: 4, reason: `bad user name or password: token lifetime is over the ${maxLifetime} s limit (jwtMaxLifetimeSec)` };
    }
    const userId = payload.sub!;
    const idProblem = invalidIdReason(userId);
    if (idProblem) return { ok: false, code: 4, reason: `bad user name or password: token sub is not a valid user id: ${idProblem}` };
    if (username !== undefined && username !== '' && username !== userId) {
      return { ok: false, code: 4, reason: 'bad user name or password: username does not match the token subject' };
    }
    const data = isObject(payload.data) ? (payload.data as UserData) : undefined;
    const groups = Array.isArray(payload.groups) && payload.groups.every((g) => typeof g === 'string' && !invalidIdReason(g))
      ? Object.freeze([...(payload.groups as string[])])
      : undefined;
    if (payload.groups !== undefined && groups === undefined) {
      return { ok: false, code: 5, reason: 'not authorized: token groups must be an array of valid group ids' };
    }
    // The latest ACCEPTED token speaks for the user: one without these claims clears what an older one
    // said. Recorded only once the connection is admitted, so a refused CONNECT rewrites nothing.
    const accepted = () => {
      if (data !== undefined || groups !== undefined) this.known.set(userId, { data, groups });
      else this.known.delete(userId);
    };
    return { ok: true, principal: { userId, data, groups, expiresAt: payload.exp! * 1000 }, accepted };
  }

  /** What the latest token of a user said (data, groups), for users seen since start. */
  lookup(userId: string): { data?: UserData; groups?: readonly string[] } | undefined {
    return this.known.get(userId);
  }
}

function describe(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'token expired';
  if (error instanceof errors.JWTClaimValidationFailed) return `token claim '${error.claim}' ${error.reason === 'missing' ? 'is missing' : 'is not valid'}`;
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'token signature is not valid';
  if (error instanceof errors.JOSEAlgNotAllowed) return 'token algorithm is not allowed';
  return 'token is malformed';
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

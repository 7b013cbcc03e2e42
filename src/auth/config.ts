import type { Limits } from './limits.js';

/**
 * The config keys of src/auth/ (serve mode; docs/security.md): authentication, the watch policy, the caps
 * and rates of `Limits`, and the failed-login back-off. src/config.ts spreads them into serve's schema and
 * defaults; src/auth/ reads them from here, so auth never imports the serve config (no import cycle).
 */
export interface AuthConfig extends Limits {
  // Authentication: any of these turns it on.
  /** JSON users file: user id -> scrypt hash, trusted data, allowed groups. Re-read on SIGHUP. */
  usersFile?: string;
  /** HS256 secret for signed tokens (config file only; prefer jwtSecretFile). */
  jwtSecret?: string;
  jwtSecretFile?: string;
  /** RS256 public key (PEM) for signed tokens. */
  jwtPublicKeyFile?: string;
  jwtIssuer?: string;
  jwtAudience?: string;
  /** Longest token lifetime accepted, in seconds from now to `exp`; 0 accepts any `exp`. */
  jwtMaxLifetimeSec: number;
  // Authorization: who may watch whom.
  authorization: 'open' | 'shared-group';
  /** A module whose default export is a PolicyFactory; replaces `authorization`. */
  authorizationModule?: string;
  // Limits (src/auth/limits.ts; 0 disables a rate limit, the others are hard caps) come with `Limits`.
  /** Local processes (and anything a local proxy forwards) are not rate limited unless this is false. */
  connectRateExemptLoopback: boolean;
  // Failed logins (src/auth/login-throttle.ts): free failures, then an exponential back-off.
  /** Failed logins per account (claimed username) before the back-off; 0 = not counted. */
  loginFailuresPerAccount: number;
  /** Failed logins per source address before the back-off; 0 = not counted. */
  loginFailuresPerIp: number;
  /** First back-off in ms, doubled per further failure, up to loginBackoffMaxMs. */
  loginBackoffMs: number;
  loginBackoffMaxMs: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxConnectionsPerUser: 32,
  maxGroupsPerUser: 1000,
  maxMembersPerGroup: 100_000,
  maxUserIdsPerSubscribe: 500,
  maxPacketBytes: 1024 * 1024,
  connectRatePerIp: 20,
  connectBurstPerIp: 100,
};

/** The defaults of `serve` and of a broker built without a config alike. */
export const DEFAULT_AUTH_CONFIG: AuthConfig = {
  authorization: 'open',
  jwtMaxLifetimeSec: 86_400,
  ...DEFAULT_LIMITS,
  connectRateExemptLoopback: true,
  loginFailuresPerAccount: 10,
  loginFailuresPerIp: 20,
  loginBackoffMs: 1000,
  loginBackoffMaxMs: 300_000,
};

/** JSON Schema properties for the keys above, spread into serve's config schema. */
export const AUTH_CONFIG_PROPERTIES = {
  usersFile: { type: 'string', minLength: 1, nullable: true },
  jwtSecret: { type: 'string', minLength: 32, nullable: true },
  jwtSecretFile: { type: 'string', minLength: 1, nullable: true },
  jwtPublicKeyFile: { type: 'string', minLength: 1, nullable: true },
  jwtIssuer: { type: 'string', minLength: 1, nullable: true },
  jwtAudience: { type: 'string', minLength: 1, nullable: true },
  jwtMaxLifetimeSec: { type: 'integer', minimum: 0, maximum: 10 * 365 * 86_400, nullable: true },
  authorization: { type: 'string', enum: ['open', 'shared-group'], nullable: true },
  authorizationModule: { type: 'string', minLength: 1, nullable: true },
  maxConnectionsPerUser: { type: 'integer', minimum: 1, maximum: 1_000_000, nullable: true },
  maxGroupsPerUser: { type: 'integer', minimum: 1, maximum: 1_000_000, nullable: true },
  maxMembersPerGroup: { type: 'integer', minimum: 1, maximum: 100_000_000, nullable: true },
  maxUserIdsPerSubscribe: { type: 'integer', minimum: 1, maximum: 65_535, nullable: true },
  maxPacketBytes: { type: 'integer', minimum: 1024, maximum: 268_435_455, nullable: true },
  connectRatePerIp: { type: 'number', minimum: 0, maximum: 1_000_000, nullable: true },
  connectBurstPerIp: { type: 'integer', minimum: 1, maximum: 1_000_000, nullable: true },
  connectRateExemptLoopback: { type: 'boolean', nullable: true },
  loginFailuresPerAccount: { type: 'integer', minimum: 0, maximum: 1_000_000, nullable: true },
  loginFailuresPerIp: { type: 'integer', minimum: 0, maximum: 1_000_000, nullable: true },
  loginBackoffMs: { type: 'integer', minimum: 1, maximum: 86_400_000, nullable: true },
  loginBackoffMaxMs: { type: 'integer', minimum: 1, maximum: 86_400_000, nullable: true },
} as const;

/** True when the config turns authentication on (then anonymous clients are refused). */
export function authenticationConfigured(config: AuthConfig): boolean {
  return [config.usersFile, config.jwtSecret, config.jwtSecretFile, config.jwtPublicKeyFile].some((v) => v !== undefined);
}

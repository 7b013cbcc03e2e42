import { resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../config/error.js';
import { isLoopback } from '../config/loopback.js';
import type { UserData } from '../core/events.js';
import type { Logger } from '../log/logger.js';
import { refusal, refused, type Refusal, type Result } from '../log/refusals.js';
import { DEFAULT_AUTH_CONFIG, DEFAULT_LIMITS, type AuthConfig } from './config.js';
import { authenticateWith, type AuthOutcome, type Authenticator, type Credentials } from './authenticator.js';
import { JoinReservations } from './join-reservations.js';
import { JwtAuthenticator } from './jwt.js';
import { RateLimiter, type Limits } from './limits.js';
import { LoginThrottle, type LoginThrottleOptions } from './login-throttle.js';
import { BUILT_IN_POLICIES, Membership, type PolicyFactory, type Viewer, type WatchPolicy } from './policy.js';
import { UsersFileAuthenticator } from './users-file.js';

export interface SecurityOptions {
  /** Empty: no authentication, every client is anonymous (its claimed id stands in). */
  authenticators?: Authenticator[];
  policy?: PolicyFactory;
  /** `shared-group` semantics for joins: a user with no allowed-group list may join no group. */
  joinsNeedAllowList?: boolean;
  limits?: Partial<Limits>;
  connectRateExemptLoopback?: boolean;
  /** Failed-login back-off (src/auth/login-throttle.ts); defaults as in the serve config. */
  loginThrottle?: Partial<LoginThrottleOptions>;
  log: Logger;
}

/** The defaults are the config's (src/auth/config.ts), so a broker built without a config behaves like `serve`. */
const DEFAULT_LOGIN_THROTTLE: LoginThrottleOptions = {
  failuresPerAccount: DEFAULT_AUTH_CONFIG.loginFailuresPerAccount,
  failuresPerAddress: DEFAULT_AUTH_CONFIG.loginFailuresPerIp,
  backoffMs: DEFAULT_AUTH_CONFIG.loginBackoffMs,
  backoffMaxMs: DEFAULT_AUTH_CONFIG.loginBackoffMaxMs,
};

/**
 * Everything the broker asks before it lets a client in, lets it join or lets it watch: authentication,
 * the watch policy, per-user and per-group caps and the per-address connect rate. Pure bookkeeping;
 * the broker hooks turn its answers into CONNACK codes, 0x80 grants and dropped publishes.
 */
export class Security {
  readonly membership = new Membership();
  /** Joins authorized and not yet applied; the broker abandons a connection's when it ends. */
  readonly reservations = new JoinReservations();
  readonly policy: WatchPolicy;
  readonly limits: Limits;
  /** Failed logins per account and per address, checked before any password work. */
  readonly logins: LoginThrottle;
  private readonly authenticators: Authenticator[];
  private readonly joinsNeedAllowList: boolean;
  private readonly rate: RateLimiter;
  private readonly exemptLoopback: boolean;
  private readonly connections = new Map<string, Map<object, string>>();
  private readonly log: Logger;
  private readonly policyIsBuiltIn: boolean;

  constructor(options: SecurityOptions) {
    this.authenticators = options.authenticators ?? [];
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.joinsNeedAllowList = options.joinsNeedAllowList ?? false;
    this.exemptLoopback = options.connectRateExemptLoopback ?? true;
    this.rate = new RateLimiter(this.limits.connectRatePerIp, this.limits.connectBurstPerIp);
    this.log = options.log;
    this.logins = new LoginThrottle({ ...DEFAULT_LOGIN_THROTTLE, ...options.loginThrottle });
    this.policyIsBuiltIn = options.policy === undefined || Object.values(BUILT_IN_POLICIES).includes(options.policy);
    this.policy = (options.policy ?? BUILT_IN_POLICIES.open!)({
      membership: this.membership,
      allowedGroups: (userId) => this.allowedGroups(userId),
    });
  }

  /** True when clients must prove who they are. */
  get authRequired(): boolean {
    return this.authenticators.length > 0;
  }

  get authenticatorNames(): string[] {
    return this.authenticators.map((a) => a.name);
  }

  authenticate(credentials: Credentials): Promise<AuthOutcome> {
    return authenticateWith(this.authenticators, credentials);
  }

  /** Takes a connect token for the address; false when it is connecting too fast. */
  admitConnectFrom(address: string | undefined): boolean {
    if (address === undefined) return true;
    if (this.exemptLoopback && isLoopback(address)) return true;
    return this.rate.take(address);
  }

  /**
   * Counts a connection against its user's cap; `slot` is released once, when the connection ends.
   * Reconnecting with a client id the user already holds is a takeover, not an extra connection.
   * The value is the release function.
   */
  admitConnection(userId: string, clientId: string, slot: object): Result<() => void> {
    let held = this.connections.get(userId);
    const ids = new Set(held?.values());
    ids.delete(clientId);
    if (ids.size >= this.limits.maxConnectionsPerUser) {
      return refused('too_many_connections', `too many connections: user already has ${ids.size} (limit ${this.limits.maxConnectionsPerUser})`);
    }
    if (!held) this.connections.set(userId, (held = new Map()));
    held.set(slot, clientId);
    let released = false;
    return {
      ok: true,
      value: () => {
        if (released) return;
        released = true;
        const current = this.connections.get(userId);
        current?.delete(slot);
        if (current?.size === 0) this.connections.delete(userId);
      },
    };
  }

  connectionsOf(userId: string): number {
    return new Set(this.connections.get(userId)?.values()).size;
  }

  /**
   * Why `userId` may not join `groupId` now, or undefined when it may: the join is then reserved for
   * `owner` (its connection) until confirmed or abandoned (src/auth/join-reservations.ts).
   */
  refuseJoin(userId: string, groupId: string, owner: object): Refusal | undefined {
    const { membership, reservations } = this;
    if (membership.isMember(userId, groupId)) return undefined;
    const allowed = this.allowedGroups(userId);
    if (allowed ? !allowed.includes(groupId) : this.joinsNeedAllowList) return refusal('group_not_allowed_for_this_user', 'group not allowed for this user');
    if (!reservations.has(userId, groupId)) {
      const groups = membership.groupCount(userId) + reservations.extraGroups(userId, (g) => membership.isMember(userId, g));
      if (groups >= this.limits.maxGroupsPerUser) return refusal('too_many_groups', `too many groups: limit ${this.limits.maxGroupsPerUser} per user`);
      const members = membership.memberCount(groupId) + reservations.extraMembers(groupId, (u) => membership.isMember(u, groupId));
      if (members >= this.limits.maxMembersPerGroup) return refusal('group_is_full', `group is full: limit ${this.limits.maxMembersPerGroup} members`);
    }
    reservations.reserve(owner, userId, groupId);
    return undefined;
  }

  /** Whether `userId` may be a member of `groupId` (its allowed groups), whatever the caps; counts nothing. */
  mayJoin(userId: string, groupId: string): boolean {
    if (this.membership.isMember(userId, groupId)) return true;
    const allowed = this.allowedGroups(userId);
    return allowed ? allowed.includes(groupId) : !this.joinsNeedAllowList;
  }

  /** True for the built-in open policy: deliveries need no per-packet check. */
  get watchesAll(): boolean {
    return this.policy.name === 'open' && this.policyIsBuiltIn;
  }

  mayWatchUser(viewer: Viewer, userId: string): boolean {
    return this.ask(() => this.policy.mayWatchUser(viewer, userId), viewer, userId);
  }

  mayWatchGroup(viewer: Viewer, groupId: string): boolean {
    return this.ask(() => this.policy.mayWatchGroup(viewer, groupId), viewer, groupId);
  }

  /** A policy is code we did not write: one that throws denies (and says so), it never takes the broker down. */
  private ask(decide: () => boolean, viewer: Viewer, target: string): boolean {
    try {
      return decide() === true;
    } catch (error) {
      this.log.error('watch policy failed; denying', { policy: this.policy.name, userId: viewer.userId, target, error: (error as Error)?.message ?? String(error) });
      return false;
    }
  }

  /** Server-side data for a user, which wins over what the client declares. */
  trustedData(userId: string): UserData | undefined {
    for (const a of this.authenticators) {
      const data = a.lookup?.(userId)?.data;
      if (data) return data;
    }
    return undefined;
  }

  allowedGroups(userId: string): readonly string[] | undefined {
    for (const a of this.authenticators) {
      const groups = a.lookup?.(userId)?.groups;
      if (groups) return groups;
    }
    return undefined;
  }

  /** Re-reads users files (SIGHUP). Connections stay; a broken file keeps the previous list. */
  async reload(): Promise<void> {
    if (!this.authenticators.some((a) => a.reload)) this.log.info('nothing to reload: no users file is configured');
    for (const a of this.authenticators) {
      if (!a.reload) continue;
      try {
        await a.reload();
        this.log.info('authentication reloaded', { authenticator: a.name, ...(a instanceof UsersFileAuthenticator ? { users: a.size } : {}) });
      } catch (error) {
        this.log.error('authentication reload failed; keeping the previous list', { authenticator: a.name, error: (error as Error).message });
        throw error;
      }
    }
  }
}

export interface SecurityExtras {
  authenticators?: Authenticator[];
  policy?: PolicyFactory;
  /** The clock of the login back-off (tests drive it); Date.now by default. */
  now?: () => number;
}

/** Builds the configured security: authenticators (tokens first, then the users file), policy, limits. */
export async function createSecurity(config: AuthConfig, log: Logger, extras: SecurityExtras = {}): Promise<Security> {
  const authenticators: Authenticator[] = [...(extras.authenticators ?? [])];
  if (config.jwtSecret !== undefined || config.jwtSecretFile !== undefined || config.jwtPublicKeyFile !== undefined) {
    if (config.jwtSecret !== undefined && config.jwtSecretFile !== undefined) {
      throw new ConfigError('invalid configuration: give jwtSecret or jwtSecretFile, not both');
    }
    try {
      authenticators.push(
        await JwtAuthenticator.fromFiles({
          secret: config.jwtSecret,
          secretFile: config.jwtSecretFile,
          publicKeyFile: config.jwtPublicKeyFile,
          issuer: config.jwtIssuer,
          audience: config.jwtAudience,
          maxLifetimeSec: config.jwtMaxLifetimeSec,
        }),
      );
    } catch (error) {
      throw new ConfigError(`invalid configuration: ${(error as Error).message}`);
    }
  }
  if (config.usersFile !== undefined) {
    try {
      authenticators.push(await UsersFileAuthenticator.open(config.usersFile));
    } catch (error) {
      throw new ConfigError(`invalid configuration: ${(error as Error).message}`);
    }
  }
  let policy = extras.policy ?? BUILT_IN_POLICIES[config.authorization];
  if (config.authorizationModule !== undefined) policy = await loadPolicyModule(config.authorizationModule);
  return new Security({
    authenticators,
    policy,
    joinsNeedAllowList: config.authorization === 'shared-group' && config.authorizationModule === undefined && !extras.policy,
    limits: {
      maxConnectionsPerUser: config.maxConnectionsPerUser,
      maxGroupsPerUser: config.maxGroupsPerUser,
      maxMembersPerGroup: config.maxMembersPerGroup,
      maxUserIdsPerSubscribe: config.maxUserIdsPerSubscribe,
      maxPacketBytes: config.maxPacketBytes,
      connectRatePerIp: config.connectRatePerIp,
      connectBurstPerIp: config.connectBurstPerIp,
    },
    connectRateExemptLoopback: config.connectRateExemptLoopback,
    loginThrottle: {
      failuresPerAccount: config.loginFailuresPerAccount,
      failuresPerAddress: config.loginFailuresPerIp,
      backoffMs: config.loginBackoffMs,
      backoffMaxMs: config.loginBackoffMaxMs,
      now: extras.now,
    },
    log,
  });
}

async function loadPolicyModule(path: string): Promise<PolicyFactory> {
  let loaded: { default?: unknown };
  try {
    loaded = (await import(pathToFileURL(resolvePath(path)).href)) as { default?: unknown };
  } catch (error) {
    throw new ConfigError(`cannot load authorization module ${path}: ${(error as Error).message}`);
  }
  if (typeof loaded.default !== 'function') {
    throw new ConfigError(`authorization module ${path} must export a policy factory as its default export`);
  }
  return loaded.default as PolicyFactory;
}

import { readFileSync } from 'node:fs';
import type { JSONSchemaType } from 'ajv';
import type { LogLevel } from './log/logger.js';
import type { Limits } from './auth/limits.js';
import { DEFAULT_QUERY_CONFIG, QUERY_CONFIG_PROPERTIES, queryConfigProblem, type QueryConfig } from './queries/config.js';
import { DEFAULT_INTERVAL_CONFIG, INTERVAL_CONFIG_PROPERTIES, type IntervalConfig } from './feed/interval-config.js';
import { compile } from './schemas/ajv.js';
import { DEFAULT_WEBHOOK_CONFIG, WEBHOOK_CONFIG_PROPERTIES, webhookConfigProblem, type WebhookConfig } from './feed/webhook-config.js';

/** Everything `serve` can be told, from the config file and then the command line (which wins). */
export interface ServeConfig extends QueryConfig, IntervalConfig, Limits, WebhookConfig {
  host: string;
  mqttPort: number;
  httpPort: number;
  /** Milliseconds an offline is held back; 0 announces at once. */
  graceMs: number;
  prefix: string;
  groupPrefix: string;
  /** Largest user `data` object accepted, in bytes of JSON. */
  maxDataBytes: number;
  /** Data updates allowed per connection per minute; beyond it refused, logged, counted. 0 = no limit. */
  maxUpdatesPerMinute: number;
  allowAnonymous: boolean;
  logLevel: LogLevel;
  // Authentication (docs/security.md): any of these turns it on.
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
  /** QoS 1/2 messages held per persistent session (clean=false) while away or unacknowledged. */
  maxQueuedMessages: number;
  /** Payload bytes held per persistent session's queue (oldest dropped beyond it), like Mosquitto's max_queued_bytes. */
  maxQueuedBytes: number;
  /** Inbound QoS 2 messages awaiting PUBREL per client id, across its connections; one more closes the connection. */
  maxInflightMessages: number;
  /** Seconds a persistent session (clean=false) outlives its last connection; 0 = forever (Mosquitto's default). */
  persistentSessionExpiry: number;
  /** Local processes (and anything a local proxy forwards) are not rate limited unless this is false. */
  connectRateExemptLoopback: boolean;
  // Failed logins (docs/security.md, src/auth/login-throttle.ts): free failures, then an exponential back-off.
  /** Failed logins per account (claimed username) before the back-off; 0 = not counted. */
  loginFailuresPerAccount: number;
  /** Failed logins per source address before the back-off; 0 = not counted. */
  loginFailuresPerIp: number;
  /** First back-off in ms, doubled per further failure, up to loginBackoffMaxMs. */
  loginBackoffMs: number;
  loginBackoffMaxMs: number;
  // The query API (apiToken, limits): src/queries/config.ts, shared with attach mode.
  // Cluster and durability (docs/cluster.md): all of these apply only with `redis`.
  /** `redis://HOST:PORT[/DB]`: keep state in Redis and join the nodes of `cluster` there. */
  redis?: string;
  /** Name of the cluster, the prefix of every key and channel it uses, so clusters can share one Redis. */
  cluster: string;
  /** A node that has not renewed its liveness record for this long is declared down (ms). */
  nodeTimeoutMs: number;
  /** This node's identity; a node restarting under the same id reaps its previous life. */
  nodeId?: string;
}

export const DEFAULT_SERVE_CONFIG: ServeConfig = {
  host: '127.0.0.1',
  mqttPort: 1883,
  httpPort: 8080,
  graceMs: 0,
  prefix: 'presence',
  groupPrefix: 'group',
  maxDataBytes: 1024,
  maxUpdatesPerMinute: 30,
  allowAnonymous: false,
  logLevel: 'info',
  authorization: 'open',
  jwtMaxLifetimeSec: 86_400,
  maxConnectionsPerUser: 32,
  maxGroupsPerUser: 1000,
  maxMembersPerGroup: 100_000,
  maxUserIdsPerSubscribe: 500,
  maxPacketBytes: 1024 * 1024,
  maxQueuedMessages: 1000,
  maxInflightMessages: 100,
  maxQueuedBytes: 16 * 1024 * 1024,
  persistentSessionExpiry: 0,
  connectRatePerIp: 20,
  connectBurstPerIp: 100,
  connectRateExemptLoopback: true,
  loginFailuresPerAccount: 10,
  loginFailuresPerIp: 20,
  loginBackoffMs: 1000,
  loginBackoffMaxMs: 300_000,
  ...DEFAULT_QUERY_CONFIG,
  ...DEFAULT_WEBHOOK_CONFIG,
  ...DEFAULT_INTERVAL_CONFIG,
  cluster: 'presence',
  nodeTimeoutMs: 10_000,
};

// A topic prefix: one or more plain levels, no wildcards, no leading `$`.
const PREFIX_PATTERN = '^[^/+#$\\u0000][^/+#\\u0000]*(/[^/+#\\u0000]+)*$';

const schema: JSONSchemaType<Partial<ServeConfig>> = {
  type: 'object',
  properties: {
    host: { type: 'string', minLength: 1, nullable: true },
    mqttPort: { type: 'integer', minimum: 0, maximum: 65535, nullable: true },
    httpPort: { type: 'integer', minimum: 0, maximum: 65535, nullable: true },
    graceMs: { type: 'integer', minimum: 0, maximum: 86_400_000, nullable: true },
    prefix: { type: 'string', pattern: PREFIX_PATTERN, maxLength: 64, nullable: true },
    groupPrefix: { type: 'string', pattern: PREFIX_PATTERN, maxLength: 64, nullable: true },
    maxDataBytes: { type: 'integer', minimum: 2, maximum: 65536, nullable: true },
    maxUpdatesPerMinute: { type: 'integer', minimum: 0, maximum: 1_000_000, nullable: true },
    allowAnonymous: { type: 'boolean', nullable: true },
    logLevel: { type: 'string', enum: ['debug', 'info', 'warn', 'error'], nullable: true },
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
    maxQueuedMessages: { type: 'integer', minimum: 1, maximum: 1_000_000, nullable: true },
    maxInflightMessages: { type: 'integer', minimum: 1, maximum: 65_535, nullable: true },
    maxQueuedBytes: { type: 'integer', minimum: 1024, maximum: 68_719_476_736, nullable: true },
    persistentSessionExpiry: { type: 'integer', minimum: 0, maximum: 31_536_000, nullable: true },
    connectRatePerIp: { type: 'number', minimum: 0, maximum: 1_000_000, nullable: true },
    connectBurstPerIp: { type: 'integer', minimum: 1, maximum: 1_000_000, nullable: true },
    connectRateExemptLoopback: { type: 'boolean', nullable: true },
    loginFailuresPerAccount: { type: 'integer', minimum: 0, maximum: 1_000_000, nullable: true },
    loginFailuresPerIp: { type: 'integer', minimum: 0, maximum: 1_000_000, nullable: true },
    loginBackoffMs: { type: 'integer', minimum: 1, maximum: 86_400_000, nullable: true },
    loginBackoffMaxMs: { type: 'integer', minimum: 1, maximum: 86_400_000, nullable: true },
    ...QUERY_CONFIG_PROPERTIES,
    ...WEBHOOK_CONFIG_PROPERTIES,
    ...INTERVAL_CONFIG_PROPERTIES,
    redis: { type: 'string', pattern: '^rediss?://', maxLength: 2048, nullable: true },
    cluster: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$', nullable: true },
    nodeTimeoutMs: { type: 'integer', minimum: 500, maximum: 3_600_000, nullable: true },
    nodeId: { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,128}$', nullable: true },
  },
  additionalProperties: false,
};

const check = compile(schema);

export class ConfigError extends Error {}

/** Validates a partial config (from a file, the CLI or a caller) and fills in the defaults. */
export function resolveServeConfig(...layers: unknown[]): ServeConfig {
  let config: ServeConfig = { ...DEFAULT_SERVE_CONFIG };
  for (const layer of layers) {
    const checked = check(layer);
    if (!checked.ok) throw new ConfigError(`invalid configuration: ${checked.reason}`);
    config = { ...config, ...stripUndefined(checked.value) };
  }
  if (config.prefix === config.groupPrefix || config.groupPrefix.startsWith(config.prefix + '/')) {
    throw new ConfigError('invalid configuration: groupPrefix must lie outside prefix');
  }
  const queryProblem = queryConfigProblem(config);
  if (queryProblem) throw new ConfigError(`invalid configuration: ${queryProblem}`);
  const webhookProblem = webhookConfigProblem(config);
  if (webhookProblem) throw new ConfigError(`invalid configuration: ${webhookProblem}`);
  return config;
}

export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${path}: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(error as Error).message}`);
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** True when the config turns authentication on (then anonymous clients are refused). */
export function authenticationConfigured(config: ServeConfig): boolean {
  return [config.usersFile, config.jwtSecret, config.jwtSecretFile, config.jwtPublicKeyFile].some((v) => v !== undefined);
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

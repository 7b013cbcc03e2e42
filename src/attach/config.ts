import type { JSONSchemaType } from 'ajv';
import { ConfigError } from '../config.js';
import { isValidId } from '../protocol/ids.js';
import type { LogLevel } from '../log/logger.js';
import { DEFAULT_QUERY_CONFIG, QUERY_CONFIG_PROPERTIES, queryConfigProblem, type QueryConfig } from '../queries/config.js';
import { DEFAULT_INTERVAL_CONFIG, INTERVAL_CONFIG_PROPERTIES, type IntervalConfig } from '../feed/interval-config.js';
import { compile } from '../schemas/ajv.js';
import { DEFAULT_WEBHOOK_CONFIG, WEBHOOK_CONFIG_PROPERTIES, webhookConfigProblem, type WebhookConfig } from '../feed/webhook-config.js';
import { DEFAULT_REBIRTH_WINDOW_MS } from './rebirth.js';
import { DEFAULT_TAKEOVER_WINDOW_MS } from './takeover.js';

/**
 * Everything `attach` can be told, from the config file and then the command line (which wins). The
 * query API's keys (apiToken, limits) are serve mode's, so both modes serve the same API.
 */
export interface AttachConfig extends QueryConfig, WebhookConfig, IntervalConfig {
  /** The existing broker, e.g. `mqtt://host:1883`, `mqtts://...`, `ws://host:9001`. */
  broker: string;
  username?: string;
  password?: string;
  /** Names the bridge's status topic `presence/bridge/<bridgeId>` and its MQTT client id. */
  bridgeId: string;
  /** The HTTP listener (health, metrics, queries), as in serve mode. */
  host: string;
  httpPort: number;
  graceMs: number;
  prefix: string;
  groupPrefix: string;
  maxDataBytes: number;
  /** Data updates allowed per connection per minute; beyond it refused, logged, counted. 0 = no limit. */
  maxUpdatesPerMinute: number;
  /** How long a will waits for a birth on the same topic (a takeover) before it ends the connection; 0 = never. */
  takeoverWindowMs: number;
  /** After a broker restart, how long a restored birth may wait to be renewed before it ends (broker_restart). */
  rebirthWindowMs: number;
  /** Delay between attempts to reconnect to the broker. */
  reconnectMs: number;
  logLevel: LogLevel;
  /** `attach --redis`: one active bridge among several, by a lease in Redis (docs/cluster.md). */
  redis?: string;
  cluster: string;
  /** A standby takes over within this long of the active bridge's death (ms). */
  nodeTimeoutMs: number;
}

export const DEFAULT_ATTACH_CONFIG: Omit<AttachConfig, 'broker'> = {
  bridgeId: 'presence-bridge',
  host: '127.0.0.1',
  httpPort: 8081,
  graceMs: 0,
  prefix: 'presence',
  groupPrefix: 'group',
  maxDataBytes: 1024,
  maxUpdatesPerMinute: 30,
  reconnectMs: 1000,
  takeoverWindowMs: DEFAULT_TAKEOVER_WINDOW_MS,
  rebirthWindowMs: DEFAULT_REBIRTH_WINDOW_MS,
  logLevel: 'info',
  ...DEFAULT_QUERY_CONFIG,
  ...DEFAULT_WEBHOOK_CONFIG,
  ...DEFAULT_INTERVAL_CONFIG,
  cluster: 'presence',
  nodeTimeoutMs: 10_000,
};

const PREFIX_PATTERN = '^[^/+#$\\u0000][^/+#\\u0000]*(/[^/+#\\u0000]+)*$';

const schema: JSONSchemaType<Partial<AttachConfig>> = {
  type: 'object',
  properties: {
    broker: { type: 'string', pattern: '^(mqtt|mqtts|tcp|ssl|tls|ws|wss)://[^\\s]+$', maxLength: 2048, nullable: true },
    username: { type: 'string', minLength: 1, maxLength: 1024, nullable: true },
    password: { type: 'string', maxLength: 1024, nullable: true },
    bridgeId: { type: 'string', minLength: 1, maxLength: 128, nullable: true },
    host: { type: 'string', minLength: 1, nullable: true },
    httpPort: { type: 'integer', minimum: 0, maximum: 65535, nullable: true },
    graceMs: { type: 'integer', minimum: 0, maximum: 86_400_000, nullable: true },
    prefix: { type: 'string', pattern: PREFIX_PATTERN, maxLength: 64, nullable: true },
    groupPrefix: { type: 'string', pattern: PREFIX_PATTERN, maxLength: 64, nullable: true },
    maxDataBytes: { type: 'integer', minimum: 2, maximum: 65536, nullable: true },
    maxUpdatesPerMinute: { type: 'integer', minimum: 0, maximum: 1_000_000, nullable: true },
    reconnectMs: { type: 'integer', minimum: 10, maximum: 3_600_000, nullable: true },
    takeoverWindowMs: { type: 'integer', minimum: 0, maximum: 60_000, nullable: true },
    rebirthWindowMs: { type: 'integer', minimum: 1, maximum: 86_400_000, nullable: true },
    logLevel: { type: 'string', enum: ['debug', 'info', 'warn', 'error'], nullable: true },
    ...QUERY_CONFIG_PROPERTIES,
    ...WEBHOOK_CONFIG_PROPERTIES,
    ...INTERVAL_CONFIG_PROPERTIES,
    redis: { type: 'string', pattern: '^rediss?://', maxLength: 2048, nullable: true },
    cluster: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$', nullable: true },
    nodeTimeoutMs: { type: 'integer', minimum: 500, maximum: 3_600_000, nullable: true },
  },
  additionalProperties: false,
};

const check = compile(schema);

/** Validates partial configs (file, CLI, caller), fills in defaults and checks what spans fields. */
export function resolveAttachConfig(...layers: unknown[]): AttachConfig {
  let config: Partial<AttachConfig> = { ...DEFAULT_ATTACH_CONFIG };
  for (const layer of layers) {
    const checked = check(layer);
    if (!checked.ok) throw new ConfigError(`invalid configuration: ${checked.reason}`);
    for (const [key, value] of Object.entries(checked.value)) {
      if (value !== undefined) (config as Record<string, unknown>)[key] = value;
    }
  }
  if (!config.broker) throw new ConfigError('invalid configuration: --broker URL is required (e.g. mqtt://127.0.0.1:1883)');
  if (config.password !== undefined && config.username === undefined) {
    throw new ConfigError('invalid configuration: a password needs a username');
  }
  if (!isValidId(config.bridgeId)) throw new ConfigError('invalid configuration: bridgeId must be a valid id (no / + # NUL, not starting with $)');
  if (config.prefix === config.groupPrefix || config.groupPrefix!.startsWith(config.prefix + '/')) {
    throw new ConfigError('invalid configuration: groupPrefix must lie outside prefix');
  }
  const queryProblem = queryConfigProblem(config as AttachConfig);
  if (queryProblem) throw new ConfigError(`invalid configuration: ${queryProblem}`);
  const webhookProblem = webhookConfigProblem(config as AttachConfig);
  if (webhookProblem) throw new ConfigError(`invalid configuration: ${webhookProblem}`);
  return config as AttachConfig;
}

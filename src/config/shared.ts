import { DEFAULT_INTERVAL_CONFIG, INTERVAL_CONFIG_PROPERTIES, type IntervalConfig } from '../feed/interval-config.js';
import { DEFAULT_WEBHOOK_CONFIG, WEBHOOK_CONFIG_PROPERTIES, webhookConfigProblem, type WebhookConfig } from '../feed/webhook-config.js';
import type { LogLevel } from '../log/logger.js';
import { DEFAULT_QUERY_CONFIG, QUERY_CONFIG_PROPERTIES, queryConfigProblem, type QueryConfig } from '../queries/config.js';

/**
 * The keys `serve` and `attach` share (docs/architecture.md "Configuration"): the HTTP listener, the presence model, the
 * query API, webhooks, large-group intervals, logging and the Redis cluster. Each mode adds its own keys
 * (src/config.ts for serve, src/attach/config.ts for attach) and resolves through src/config/resolve.ts.
 */
export interface SharedConfig extends QueryConfig, IntervalConfig, WebhookConfig {
  /** The address the listeners bind to (HTTP; in serve mode MQTT too). */
  host: string;
  /** The HTTP listener (health, metrics, queries; in serve mode also MQTT over WebSocket at /mqtt). */
  httpPort: number;
  /** Milliseconds an offline is held back; 0 announces at once. */
  graceMs: number;
  prefix: string;
  groupPrefix: string;
  /** Largest user `data` object accepted, in bytes of JSON. */
  maxDataBytes: number;
  /** Data updates allowed per connection per minute; beyond it refused, logged, counted. 0 = no limit. */
  maxUpdatesPerMinute: number;
  logLevel: LogLevel;
  // Cluster and durability (docs/cluster.md): all of these apply only with `redis`.
  /** `redis://HOST:PORT[/DB]`: serve keeps state in Redis and joins the nodes of `cluster` there; attach
   *  runs one active bridge among several, by a lease there. */
  redis?: string;
  /** Name of the cluster, the prefix of every key and channel it uses, so clusters can share one Redis. */
  cluster: string;
  /** A node (or the active bridge) that has not renewed its liveness record for this long is declared down (ms). */
  nodeTimeoutMs: number;
}

/** The shared defaults; `httpPort` is each mode's (8080 serve, 8081 attach, so both run on one host). */
export const DEFAULT_SHARED_CONFIG: Omit<SharedConfig, 'httpPort'> = {
  host: '127.0.0.1',
  graceMs: 0,
  prefix: 'presence',
  groupPrefix: 'group',
  maxDataBytes: 1024,
  maxUpdatesPerMinute: 30,
  logLevel: 'info',
  ...DEFAULT_QUERY_CONFIG,
  ...DEFAULT_WEBHOOK_CONFIG,
  ...DEFAULT_INTERVAL_CONFIG,
  cluster: 'presence',
  nodeTimeoutMs: 10_000,
};

// A topic prefix: one or more plain levels, no wildcards, no leading `$`.
const PREFIX_PATTERN = '^[^/+#$\\u0000][^/+#\\u0000]*(/[^/+#\\u0000]+)*$';

/** JSON Schema properties of the shared keys, spread into each mode's config schema. */
export const SHARED_CONFIG_PROPERTIES = {
  host: { type: 'string', minLength: 1, nullable: true },
  httpPort: { type: 'integer', minimum: 0, maximum: 65535, nullable: true },
  graceMs: { type: 'integer', minimum: 0, maximum: 86_400_000, nullable: true },
  prefix: { type: 'string', pattern: PREFIX_PATTERN, maxLength: 64, nullable: true },
  groupPrefix: { type: 'string', pattern: PREFIX_PATTERN, maxLength: 64, nullable: true },
  maxDataBytes: { type: 'integer', minimum: 2, maximum: 65536, nullable: true },
  maxUpdatesPerMinute: { type: 'integer', minimum: 0, maximum: 1_000_000, nullable: true },
  logLevel: { type: 'string', enum: ['debug', 'info', 'warn', 'error'], nullable: true },
  ...QUERY_CONFIG_PROPERTIES,
  ...WEBHOOK_CONFIG_PROPERTIES,
  ...INTERVAL_CONFIG_PROPERTIES,
  redis: { type: 'string', pattern: '^rediss?://', maxLength: 2048, nullable: true },
  cluster: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$', nullable: true },
  nodeTimeoutMs: { type: 'integer', minimum: 500, maximum: 3_600_000, nullable: true },
} as const;

/** What spans several shared keys; each returns the problem in words, or undefined. */
export const SHARED_CONFIG_CHECKS: readonly ((config: SharedConfig) => string | undefined)[] = [
  (config) =>
    config.prefix === config.groupPrefix || config.groupPrefix.startsWith(config.prefix + '/') ? 'groupPrefix must lie outside prefix' : undefined,
  queryConfigProblem,
  webhookConfigProblem,
];

import type { JSONSchemaType } from 'ajv';
import { AUTH_CONFIG_PROPERTIES, DEFAULT_AUTH_CONFIG, type AuthConfig } from './auth/config.js';
import { configResolver } from './config/resolve.js';
import { DEFAULT_SHARED_CONFIG, SHARED_CONFIG_PROPERTIES, type SharedConfig } from './config/shared.js';

export { ConfigError } from './config/error.js';
export { readConfigFile } from './config/resolve.js';
export { authenticationConfigured } from './auth/config.js';

/** Everything `serve` can be told, from the config file and then the command line (which wins). */
export interface ServeConfig extends SharedConfig, AuthConfig {
  // The shared keys (host, httpPort, graceMs, prefixes, data limits, logLevel, the query API, webhooks,
  // intervals, redis/cluster/nodeTimeoutMs): src/config/shared.ts. Authentication, authorization, limits
  // and the login back-off: src/auth/config.ts.
  mqttPort: number;
  allowAnonymous: boolean;
  /** QoS 1/2 messages held per persistent session (clean=false) while away or unacknowledged. */
  maxQueuedMessages: number;
  /** Payload bytes held per persistent session's queue (oldest dropped beyond it), like Mosquitto's max_queued_bytes. */
  maxQueuedBytes: number;
  /** Inbound QoS 2 messages awaiting PUBREL per client id, across its connections; one more closes the connection. */
  maxInflightMessages: number;
  /** Seconds a persistent session (clean=false) outlives its last connection; 0 = forever (Mosquitto's default). */
  persistentSessionExpiry: number;
  /** This node's identity; a node restarting under the same id reaps its previous life. */
  nodeId?: string;
}

export const DEFAULT_SERVE_CONFIG: ServeConfig = {
  ...DEFAULT_SHARED_CONFIG,
  ...DEFAULT_AUTH_CONFIG,
  mqttPort: 1883,
  httpPort: 8080,
  allowAnonymous: false,
  maxQueuedMessages: 1000,
  maxInflightMessages: 100,
  maxQueuedBytes: 16 * 1024 * 1024,
  persistentSessionExpiry: 0,
};

const schema: JSONSchemaType<Partial<ServeConfig>> = {
  type: 'object',
  properties: {
    ...SHARED_CONFIG_PROPERTIES,
    ...AUTH_CONFIG_PROPERTIES,
    mqttPort: { type: 'integer', minimum: 0, maximum: 65535, nullable: true },
    allowAnonymous: { type: 'boolean', nullable: true },
    maxQueuedMessages: { type: 'integer', minimum: 1, maximum: 1_000_000, nullable: true },
    maxInflightMessages: { type: 'integer', minimum: 1, maximum: 65_535, nullable: true },
    maxQueuedBytes: { type: 'integer', minimum: 1024, maximum: 68_719_476_736, nullable: true },
    persistentSessionExpiry: { type: 'integer', minimum: 0, maximum: 31_536_000, nullable: true },
    nodeId: { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,128}$', nullable: true },
  },
  additionalProperties: false,
};

/** Validates partial configs (file, CLI, caller; later wins), fills in the defaults, checks what spans keys. */
export const resolveServeConfig: (...layers: unknown[]) => ServeConfig = configResolver<ServeConfig>({ schema, defaults: DEFAULT_SERVE_CONFIG });

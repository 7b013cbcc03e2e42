import type { JSONSchemaType } from 'ajv';
import { configResolver } from '../config/resolve.js';
import { DEFAULT_SHARED_CONFIG, SHARED_CONFIG_PROPERTIES, type SharedConfig } from '../config/shared.js';
import { isValidId } from '../protocol/ids.js';
import { DEFAULT_REBIRTH_WINDOW_MS } from './rebirth.js';
import { DEFAULT_TAKEOVER_WINDOW_MS } from './takeover.js';

/**
 * Everything `attach` can be told, from the config file and then the command line (which wins): the keys
 * shared with serve (src/config/shared.ts: HTTP listener, grace, prefixes, the query API, webhooks,
 * intervals, redis) and the bridge's own below. `redis` here runs one active bridge among several, by a
 * lease in Redis (docs/cluster.md); `nodeTimeoutMs` is how soon a standby takes over.
 */
export interface AttachConfig extends SharedConfig {
  /** The existing broker, e.g. `mqtt://host:1883`, `mqtts://...`, `ws://host:9001`. */
  broker: string;
  username?: string;
  password?: string;
  /** Names the bridge's status topic `presence/bridge/<bridgeId>` and its MQTT client id. */
  bridgeId: string;
  /** How long a will waits for a birth on the same topic (a takeover) before it ends the connection; 0 = never. */
  takeoverWindowMs: number;
  /** After a broker restart, how long a restored birth may wait to be renewed before it ends (broker_restart). */
  rebirthWindowMs: number;
  /** Delay between attempts to reconnect to the broker. */
  reconnectMs: number;
}

export const DEFAULT_ATTACH_CONFIG: Omit<AttachConfig, 'broker'> = {
  ...DEFAULT_SHARED_CONFIG,
  bridgeId: 'presence-bridge',
  httpPort: 8081,
  reconnectMs: 1000,
  takeoverWindowMs: DEFAULT_TAKEOVER_WINDOW_MS,
  rebirthWindowMs: DEFAULT_REBIRTH_WINDOW_MS,
};

const schema: JSONSchemaType<Partial<AttachConfig>> = {
  type: 'object',
  properties: {
    ...SHARED_CONFIG_PROPERTIES,
    broker: { type: 'string', pattern: '^(mqtt|mqtts|tcp|ssl|tls|ws|wss)://[^\\s]+$', maxLength: 2048, nullable: true },
    username: { type: 'string', minLength: 1, maxLength: 1024, nullable: true },
    password: { type: 'string', maxLength: 1024, nullable: true },
    bridgeId: { type: 'string', minLength: 1, maxLength: 128, nullable: true },
    reconnectMs: { type: 'integer', minimum: 10, maximum: 3_600_000, nullable: true },
    takeoverWindowMs: { type: 'integer', minimum: 0, maximum: 60_000, nullable: true },
    rebirthWindowMs: { type: 'integer', minimum: 1, maximum: 86_400_000, nullable: true },
  },
  additionalProperties: false,
};

/** Validates partial configs (file, CLI, caller), fills in defaults and checks what spans fields. */
export const resolveAttachConfig: (...layers: unknown[]) => AttachConfig = configResolver<AttachConfig>({
  schema,
  defaults: DEFAULT_ATTACH_CONFIG,
  checks: [
    (config) => (config.broker ? undefined : '--broker URL is required (e.g. mqtt://127.0.0.1:1883)'),
    (config) => (config.password !== undefined && config.username === undefined ? 'a password needs a username' : undefined),
    (config) => (isValidId(config.bridgeId) ? undefined : 'bridgeId must be a valid id (no / + # NUL, not starting with $)'),
  ],
});

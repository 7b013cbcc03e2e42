import { DEFAULT_QUERY_LIMITS } from './limits.js';

/** The query API's configuration keys, the same for `serve` and `attach` (config file and flags). */
export interface QueryConfig {
  /** Bearer token required by the HTTP API under /v1; none leaves it open. */
  apiToken?: string;
  /** Serve /v1 without a token where it would be closed (beyond loopback; serve mode with authentication). */
  apiOpen?: boolean;
  /** Most ids in one hereNow / groupOnlineCount query. */
  maxQueryIds: number;
  /** Largest groupHereNow page; `defaultPageSize` when no limit is asked for. */
  maxPageSize: number;
  defaultPageSize: number;
  /** Largest MQTT query payload, in bytes. */
  maxQueryBytes: number;
  /** Deepest JSON nesting of an MQTT query. */
  maxQueryDepth: number;
  /** MQTT queries per second (and burst) per client id; beyond it, error 429. 0 = no limit. */
  queryRatePerClient: number;
  queryBurstPerClient: number;
  /** HTTP /v1 requests per second (and burst) per source address; beyond it, HTTP 429. 0 = no limit. */
  httpQueryRatePerIp: number;
  httpQueryBurstPerIp: number;
}

export const DEFAULT_QUERY_CONFIG: QueryConfig = {
  maxQueryIds: DEFAULT_QUERY_LIMITS.maxIds,
  maxPageSize: DEFAULT_QUERY_LIMITS.maxPageSize,
  defaultPageSize: DEFAULT_QUERY_LIMITS.defaultPageSize,
  maxQueryBytes: DEFAULT_QUERY_LIMITS.maxRequestBytes,
  maxQueryDepth: DEFAULT_QUERY_LIMITS.maxDepth,
  queryRatePerClient: DEFAULT_QUERY_LIMITS.ratePerClient,
  queryBurstPerClient: DEFAULT_QUERY_LIMITS.burstPerClient,
  httpQueryRatePerIp: DEFAULT_QUERY_LIMITS.httpRatePerAddress,
  httpQueryBurstPerIp: DEFAULT_QUERY_LIMITS.httpBurstPerAddress,
};

/** JSON Schema properties for the keys above, spread into each mode's config schema. */
export const QUERY_CONFIG_PROPERTIES = {
  apiToken: { type: 'string', minLength: 1, maxLength: 4096, pattern: '^\\S+$', nullable: true },
  apiOpen: { type: 'boolean', nullable: true },
  maxQueryIds: { type: 'integer', minimum: 1, maximum: 100_000, nullable: true },
  maxPageSize: { type: 'integer', minimum: 1, maximum: 100_000, nullable: true },
  defaultPageSize: { type: 'integer', minimum: 1, maximum: 100_000, nullable: true },
  maxQueryBytes: { type: 'integer', minimum: 256, maximum: 16 * 1024 * 1024, nullable: true },
  maxQueryDepth: { type: 'integer', minimum: 3, maximum: 1000, nullable: true },
  queryRatePerClient: { type: 'number', minimum: 0, maximum: 1_000_000, nullable: true },
  queryBurstPerClient: { type: 'integer', minimum: 1, maximum: 1_000_000, nullable: true },
  httpQueryRatePerIp: { type: 'number', minimum: 0, maximum: 1_000_000, nullable: true },
  httpQueryBurstPerIp: { type: 'integer', minimum: 1, maximum: 1_000_000, nullable: true },
} as const;

/** What spans the keys; the problem in words, or undefined when the config is consistent. */
export function queryConfigProblem(config: QueryConfig): string | undefined {
  if (config.apiOpen && config.apiToken !== undefined) return 'apiOpen (--api-open) and apiToken (--api-token) contradict each other: pick one';
  return config.defaultPageSize > config.maxPageSize ? 'defaultPageSize must not exceed maxPageSize' : undefined;
}

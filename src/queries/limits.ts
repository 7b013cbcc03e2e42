import type { QueryConfig } from './config.js';

/** The query API's bounds, as the service and its transports use them (set from `QueryConfig`). */
export interface QueryLimits {
  /** Most ids in one hereNow / groupOnlineCount call. */
  maxIds: number;
  /** Largest groupHereNow page. */
  maxPageSize: number;
  /** Page size when groupHereNow is given no limit. */
  defaultPageSize: number;
  /** Largest MQTT request payload, in bytes. */
  maxRequestBytes: number;
  /** Deepest JSON nesting of an MQTT request (`{"params":{"userIds":[...]}}` is 3). */
  maxDepth: number;
  /** Queries per second (and burst) per MQTT client id, and per source address over HTTP; rate 0 = no limit. */
  ratePerClient: number;
  burstPerClient: number;
  httpRatePerAddress: number;
  httpBurstPerAddress: number;
}

export const DEFAULT_QUERY_LIMITS: QueryLimits = {
  maxIds: 200,
  maxPageSize: 1000,
  defaultPageSize: 100,
  maxRequestBytes: 64 * 1024,
  maxDepth: 8,
  ratePerClient: 100,
  burstPerClient: 1000,
  httpRatePerAddress: 100,
  httpBurstPerAddress: 200,
};

/** The limits from the config keys they are set by (`serve` and `attach` share them). */
export function queryLimits(config: QueryConfig): QueryLimits {
  return {
    maxIds: config.maxQueryIds,
    maxPageSize: config.maxPageSize,
    defaultPageSize: config.defaultPageSize,
    maxRequestBytes: config.maxQueryBytes,
    maxDepth: config.maxQueryDepth,
    ratePerClient: config.queryRatePerClient,
    burstPerClient: config.queryBurstPerClient,
    httpRatePerAddress: config.httpQueryRatePerIp,
    httpBurstPerAddress: config.httpQueryBurstPerIp,
  };
}

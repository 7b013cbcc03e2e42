import { parseArgs } from 'node:util';
import { ConfigError, readConfigFile } from '../config.js';
import { INTERVAL_FLAGS } from '../feed/interval-config.js';

/**
 * How a command-line flag maps onto a config key: each flag is declared once, here or beside its command.
 * A `list` flag may be repeated (`--webhook A --webhook B`) and gives an array.
 */
export type FlagTable = Record<string, { key: string; kind: 'string' | 'integer' | 'boolean' | 'list' }>;

const flag = (key: string, kind: 'string' | 'integer' | 'boolean' | 'list' = 'string') => ({ key, kind });

/** Flags both `serve` and `attach` take. */
export const SHARED_FLAGS: FlagTable = {
  host: flag('host'),
  'http-port': flag('httpPort', 'integer'),
  grace: flag('graceMs', 'integer'),
  prefix: flag('prefix'),
  'group-prefix': flag('groupPrefix'),
  'max-data-bytes': flag('maxDataBytes', 'integer'),
  'max-updates-per-minute': flag('maxUpdatesPerMinute', 'integer'),
  'log-level': flag('logLevel'),
  'api-token': flag('apiToken'),
  'max-query-ids': flag('maxQueryIds', 'integer'),
  'max-page-size': flag('maxPageSize', 'integer'),
  // Webhooks (src/feed/webhook-config.ts)
  webhook: flag('webhook', 'list'),
  'webhook-secret-file': flag('webhookSecretFile'),
  'webhook-max-queue': flag('webhookMaxQueue', 'integer'),
  'webhook-retry-for-ms': flag('webhookRetryForMs', 'integer'),
  ...INTERVAL_FLAGS,
  'query-rate-per-client': flag('queryRatePerClient', 'integer'),
  'http-query-rate-per-ip': flag('httpQueryRatePerIp', 'integer'),
};

export { flag };

/**
 * Parses `args` strictly against `table` (plus `--config FILE`) and returns the two config layers in
 * the order they apply: the file's, then the command line's. Validation is the config schema's job;
 * here a number flag only has to be a whole number.
 */
export function configLayers(args: string[], table: FlagTable): [fromFile: unknown, fromFlags: Record<string, unknown>] {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = { config: { type: 'string' } };
  for (const [name, { kind }] of Object.entries(table)) options[name] = { type: kind === 'boolean' ? 'boolean' : 'string', multiple: kind === 'list' };
  const { values } = parseArgs({ args, strict: true, options });
  const fromFlags: Record<string, unknown> = {};
  for (const [name, { key, kind }] of Object.entries(table)) {
    const value = values[name];
    if (value === undefined) continue;
    fromFlags[key] = kind === 'integer' ? integer(value as string, `--${name}`) : value;
  }
  const file = values.config as string | undefined;
  return [file ? readConfigFile(file) : {}, fromFlags];
}

function integer(value: string, flagName: string): number {
  if (!/^\d+$/.test(value)) throw new ConfigError(`${flagName} takes a whole number, not '${value}'`);
  return Number(value);
}

import { parseArgs } from 'node:util';
import { ConfigError, readConfigFile } from '../config.js';
import { INTERVAL_FLAGS } from '../feed/interval-config.js';
import { unknownOption } from './errors.js';

/**
 * How a command-line flag maps onto a config key: each flag is declared once, here or beside its command.
 * `description` is the flag's line in `--help` (src/cli/help.ts), `arg` names its value there
 * (default: N for integers, otherwise the flag's last word in capitals). A `list` flag may be repeated
 * (`--webhook A --webhook B`) and gives an array.
 */
export type FlagKind = 'string' | 'integer' | 'boolean' | 'list';
export type FlagTable = Record<string, { key: string; kind: FlagKind; description?: string; arg?: string }>;

const flag = (key: string, kind: FlagKind = 'string', description?: string, arg?: string) => ({ key, kind, description, arg });

/** Flags both `serve` and `attach` take. */
export const SHARED_FLAGS: FlagTable = {
  host: flag('host', 'string', 'address to listen on; beyond loopback needs authentication (serve) and an --api-token or --api-open for /v1'),
  'http-port': flag('httpPort', 'integer', 'HTTP port: /healthz, /metrics, the /v1 API (0 = any free port)'),
  grace: flag('graceMs', 'integer', 'milliseconds an offline is held back and dropped if the user is back in time', 'MS'),
  prefix: flag('prefix', 'string', 'topic prefix of presence events, announcements and queries'),
  'group-prefix': flag('groupPrefix', 'string', 'topic prefix whose subscriptions are group memberships'),
  'max-data-bytes': flag('maxDataBytes', 'integer', 'largest user data object, in bytes of JSON'),
  'log-level': flag('logLevel', 'string', 'debug, info, warn or error (debug also prints stack traces of startup errors)'),
  'api-token': flag('apiToken', 'string', 'bearer token the /v1 HTTP API requires', 'TOKEN'),
  'max-query-ids': flag('maxQueryIds', 'integer', 'most ids in one hereNow or groupOnlineCount query'),
  'max-page-size': flag('maxPageSize', 'integer', 'largest groupHereNow page'),
  'api-open': flag('apiOpen', 'boolean', 'serve /v1 without a token even beyond loopback or with authentication on'),
  'max-updates-per-minute': flag('maxUpdatesPerMinute', 'integer', 'data updates one connection may announce per minute (0 = no limit)'),
  'query-rate-per-client': flag('queryRatePerClient', 'integer', 'MQTT queries per second one client may ask (beyond: error 429)'),
  'http-query-rate-per-ip': flag('httpQueryRatePerIp', 'integer', '/v1 requests per second one address may make (beyond: HTTP 429)'),
  // Webhooks (src/feed/webhook-config.ts, docs/webhooks.md)
  webhook: flag('webhook', 'list', 'POST every presence event, in signed batches, to this URL (repeatable)', 'URL'),
  'webhook-secret-file': flag('webhookSecretFile', 'string', 'file holding the secret that signs webhook batches (HMAC-SHA256)', 'FILE'),
  'webhook-max-queue': flag('webhookMaxQueue', 'integer', 'events queued per webhook receiver before the oldest are dropped'),
  'webhook-retry-for-ms': flag('webhookRetryForMs', 'integer', 'how long a failing webhook batch is retried before it is dropped', 'MS'),
  // Interval mode for large groups (src/feed/interval-config.ts)
  ...INTERVAL_FLAGS,
};

export { flag };

/**
 * Parses `args` strictly against `table` (plus `--config FILE`) and returns the two config layers in
 * the order they apply: the file's, then the command line's. Validation is the config schema's job;
 * here a number flag only has to be a whole number.
 */
export function configLayers(args: string[], table: FlagTable): [fromFile: unknown, fromFlags: Record<string, unknown>] {
  const { values } = parseFlags(args, { ...table, config: CONFIG_FLAG });
  const { config: file, ...fromFlags } = values;
  return [typeof file === 'string' ? readConfigFile(file) : {}, fromFlags];
}

/** `--config FILE`, which every command reading a config file takes besides its table. */
export const CONFIG_FLAG = flag('config', 'string', 'JSON config file (keys as in docs/); flags override it', 'FILE');

/**
 * Parses `args` strictly against `table`: values keyed by the table's config keys (integers checked),
 * and the positionals when `positionals` is true. An unknown flag is a UsageError naming the nearest
 * known one.
 */
export function parseFlags(args: string[], table: FlagTable, positionals = false): { values: Record<string, unknown>; positionals: string[] } {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  for (const [name, { kind }] of Object.entries(table)) options[name] = { type: kind === 'boolean' ? 'boolean' : 'string', multiple: kind === 'list' };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args, strict: true, allowPositionals: positionals, options });
  } catch (error) {
    throw unknownOption(error, Object.keys(table));
  }
  const values: Record<string, unknown> = {};
  for (const [name, { key, kind }] of Object.entries(table)) {
    const value = parsed.values[name];
    if (value === undefined) continue;
    values[key] = kind === 'integer' ? integer(value as string, `--${name}`) : value;
  }
  return { values, positionals: parsed.positionals };
}

function integer(value: string, flagName: string): number {
  if (!/^\d+$/.test(value)) throw new ConfigError(`${flagName} takes a whole number, not '${value}'`);
  return Number(value);
}

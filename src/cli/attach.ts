import { parseArgs } from 'node:util';
import { resolveAttachConfig } from '../attach/config.js';
import { startAttach } from '../attach/start.js';
import { readConfigFile } from '../config.js';
import { createLogger } from '../log.js';
import { integer, onSignals } from './serve.js';

/** The broker password may come from the environment, to keep it off the command line. */
export const PASSWORD_ENV = 'PRESENCE_BRIDGE_PASSWORD';

export async function runAttach(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      broker: { type: 'string' },
      username: { type: 'string' },
      password: { type: 'string' },
      'bridge-id': { type: 'string' },
      host: { type: 'string' },
      'http-port': { type: 'string' },
      grace: { type: 'string' },
      config: { type: 'string' },
      prefix: { type: 'string' },
      'group-prefix': { type: 'string' },
      'max-data-bytes': { type: 'string' },
      'reconnect-ms': { type: 'string' },
      'log-level': { type: 'string' },
      'api-token': { type: 'string' },
      'max-query-ids': { type: 'string' },
      'max-page-size': { type: 'string' },
    },
  });
  const fromFile = values.config ? readConfigFile(values.config) : {};
  const config = resolveAttachConfig(fromFile, {
    broker: values.broker,
    username: values.username,
    password: values.password ?? process.env[PASSWORD_ENV],
    bridgeId: values['bridge-id'],
    host: values.host,
    httpPort: integer(values['http-port'], '--http-port'),
    graceMs: integer(values.grace, '--grace'),
    prefix: values.prefix,
    groupPrefix: values['group-prefix'],
    maxDataBytes: integer(values['max-data-bytes'], '--max-data-bytes'),
    reconnectMs: integer(values['reconnect-ms'], '--reconnect-ms'),
    logLevel: values['log-level'],
    apiToken: values['api-token'],
    maxQueryIds: integer(values['max-query-ids'], '--max-query-ids'),
    maxPageSize: integer(values['max-page-size'], '--max-page-size'),
  });
  const log = createLogger(config.logLevel);
  const running = await startAttach(config, log);
  onSignals(async (signal) => {
    log.info('shutting down', { signal });
    await running.close();
  });
}

import { parseArgs } from 'node:util';
import { ConfigError, readConfigFile, resolveServeConfig } from '../config.js';
import { createLogger } from '../log.js';
import { startServer } from '../serve.js';

export async function runServe(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      host: { type: 'string' },
      'mqtt-port': { type: 'string' },
      'http-port': { type: 'string' },
      grace: { type: 'string' },
      config: { type: 'string' },
      prefix: { type: 'string' },
      'group-prefix': { type: 'string' },
      'max-data-bytes': { type: 'string' },
      'allow-anonymous': { type: 'boolean' },
      'log-level': { type: 'string' },
    },
  });
  const fromFile = values.config ? readConfigFile(values.config) : {};
  const config = resolveServeConfig(fromFile, {
    host: values.host,
    mqttPort: integer(values['mqtt-port'], '--mqtt-port'),
    httpPort: integer(values['http-port'], '--http-port'),
    graceMs: integer(values.grace, '--grace'),
    prefix: values.prefix,
    groupPrefix: values['group-prefix'],
    maxDataBytes: integer(values['max-data-bytes'], '--max-data-bytes'),
    allowAnonymous: values['allow-anonymous'],
    logLevel: values['log-level'],
  });
  const log = createLogger(config.logLevel);
  const server = await startServer(config, log);
  onSignals(async (signal) => {
    log.info('shutting down', { signal });
    await server.close();
  });
}

/** SIGINT/SIGTERM: a graceful stop; a second signal stops at once. */
export function onSignals(stop: (signal: string) => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    stop(signal).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

export function integer(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new ConfigError(`${flag} takes a whole number, not '${value}'`);
  return Number(value);
}

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
      'users-file': { type: 'string' },
      'jwt-secret-file': { type: 'string' },
      'jwt-public-key-file': { type: 'string' },
      'jwt-issuer': { type: 'string' },
      'jwt-audience': { type: 'string' },
      authorization: { type: 'string' },
      'authorization-module': { type: 'string' },
      'max-connections-per-user': { type: 'string' },
      'max-groups-per-user': { type: 'string' },
      'max-members-per-group': { type: 'string' },
      'max-user-ids-per-subscribe': { type: 'string' },
      'max-packet-bytes': { type: 'string' },
      'max-queued-messages': { type: 'string' },
      'connect-rate-per-ip': { type: 'string' },
      'connect-burst-per-ip': { type: 'string' },
      'api-token': { type: 'string' },
      'max-query-ids': { type: 'string' },
      'max-page-size': { type: 'string' },
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
    usersFile: values['users-file'],
    jwtSecretFile: values['jwt-secret-file'],
    jwtPublicKeyFile: values['jwt-public-key-file'],
    jwtIssuer: values['jwt-issuer'],
    jwtAudience: values['jwt-audience'],
    authorization: values.authorization,
    authorizationModule: values['authorization-module'],
    maxConnectionsPerUser: integer(values['max-connections-per-user'], '--max-connections-per-user'),
    maxGroupsPerUser: integer(values['max-groups-per-user'], '--max-groups-per-user'),
    maxMembersPerGroup: integer(values['max-members-per-group'], '--max-members-per-group'),
    maxUserIdsPerSubscribe: integer(values['max-user-ids-per-subscribe'], '--max-user-ids-per-subscribe'),
    maxPacketBytes: integer(values['max-packet-bytes'], '--max-packet-bytes'),
    maxQueuedMessages: integer(values['max-queued-messages'], '--max-queued-messages'),
    connectRatePerIp: integer(values['connect-rate-per-ip'], '--connect-rate-per-ip'),
    connectBurstPerIp: integer(values['connect-burst-per-ip'], '--connect-burst-per-ip'),
    apiToken: values['api-token'],
    maxQueryIds: integer(values['max-query-ids'], '--max-query-ids'),
    maxPageSize: integer(values['max-page-size'], '--max-page-size'),
  });
  const log = createLogger(config.logLevel);
  const server = await startServer(config, log);
  // SIGHUP re-reads the users file, as brokers do; connections stay up, a broken file changes nothing.
  process.on('SIGHUP', () => {
    server.reload().catch(() => {});
  });
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

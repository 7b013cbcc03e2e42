import { resolveServeConfig } from '../config.js';
import { createLogger } from '../log.js';
import { startServer } from '../serve.js';
import { configLayers, flag, SHARED_FLAGS, type FlagTable } from './flags.js';

const SERVE_FLAGS: FlagTable = {
  ...SHARED_FLAGS,
  'mqtt-port': flag('mqttPort', 'integer'),
  'allow-anonymous': flag('allowAnonymous', 'boolean'),
  'users-file': flag('usersFile'),
  'jwt-secret-file': flag('jwtSecretFile'),
  'jwt-public-key-file': flag('jwtPublicKeyFile'),
  'jwt-issuer': flag('jwtIssuer'),
  'jwt-audience': flag('jwtAudience'),
  'jwt-max-lifetime': flag('jwtMaxLifetimeSec', 'integer'),
  'login-failures-per-account': flag('loginFailuresPerAccount', 'integer'),
  'login-failures-per-ip': flag('loginFailuresPerIp', 'integer'),
  'login-backoff-ms': flag('loginBackoffMs', 'integer'),
  'login-backoff-max-ms': flag('loginBackoffMaxMs', 'integer'),
  authorization: flag('authorization'),
  'authorization-module': flag('authorizationModule'),
  'max-connections-per-user': flag('maxConnectionsPerUser', 'integer'),
  'max-groups-per-user': flag('maxGroupsPerUser', 'integer'),
  'max-members-per-group': flag('maxMembersPerGroup', 'integer'),
  'max-user-ids-per-subscribe': flag('maxUserIdsPerSubscribe', 'integer'),
  'max-packet-bytes': flag('maxPacketBytes', 'integer'),
  'max-queued-messages': flag('maxQueuedMessages', 'integer'),
  'max-inflight-messages': flag('maxInflightMessages', 'integer'),
  'max-queued-bytes': flag('maxQueuedBytes', 'integer'),
  'persistent-session-expiry': flag('persistentSessionExpiry', 'integer'),
  'connect-rate-per-ip': flag('connectRatePerIp', 'integer'),
  'connect-burst-per-ip': flag('connectBurstPerIp', 'integer'),
  redis: flag('redis'),
  cluster: flag('cluster'),
  'node-timeout': flag('nodeTimeoutMs', 'integer'),
  'node-id': flag('nodeId'),
};

export async function runServe(args: string[]): Promise<void> {
  const config = resolveServeConfig(...configLayers(args, SERVE_FLAGS));
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

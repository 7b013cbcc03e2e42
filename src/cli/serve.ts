import { DEFAULT_SERVE_CONFIG, resolveServeConfig } from '../config.js';
import { createLogger } from '../log/logger.js';
import { startServer } from '../serve.js';
import { CONFIG_FLAG, configLayers, flag, SHARED_FLAGS, type FlagTable } from './flags.js';
import type { CommandHelp } from './help.js';

const SERVE_FLAGS: FlagTable = {
  ...SHARED_FLAGS,
  'mqtt-port': flag('mqttPort', 'integer', 'MQTT over TCP port (0 = any free port)'),
  'allow-anonymous': flag('allowAnonymous', 'boolean', 'allow clients without authentication beyond loopback'),
  'users-file': flag('usersFile', 'string', 'JSON users file (scrypt hashes; see passwd), re-read on SIGHUP'),
  'jwt-secret-file': flag('jwtSecretFile', 'string', 'HS256 secret for JWT passwords, at least 32 characters; surrounding whitespace and the final newline are trimmed (see token)'),
  'jwt-public-key-file': flag('jwtPublicKeyFile', 'string', 'RS256 public key (PEM) for JWT passwords'),
  'jwt-issuer': flag('jwtIssuer', 'string', 'required iss claim of tokens'),
  'jwt-audience': flag('jwtAudience', 'string', 'required aud claim of tokens'),
  authorization: flag('authorization', 'string', 'watch policy: open or shared-group', 'POLICY'),
  'authorization-module': flag('authorizationModule', 'string', 'module whose default export is a watch policy factory'),
  'max-connections-per-user': flag('maxConnectionsPerUser', 'integer', 'connections one user may hold'),
  'max-groups-per-user': flag('maxGroupsPerUser', 'integer', 'groups one user may be a member of'),
  'max-members-per-group': flag('maxMembersPerGroup', 'integer', 'members one group may have'),
  'max-user-ids-per-subscribe': flag('maxUserIdsPerSubscribe', 'integer', 'topic filters in one SUBSCRIBE'),
  'max-packet-bytes': flag('maxPacketBytes', 'integer', 'largest MQTT packet accepted, in bytes'),
  'max-queued-messages': flag('maxQueuedMessages', 'integer', 'QoS 1/2 messages kept per persistent session'),
  'connect-rate-per-ip': flag('connectRatePerIp', 'integer', 'CONNECTs per second per address, beyond the burst (0 = no limit)'),
  'connect-burst-per-ip': flag('connectBurstPerIp', 'integer', 'CONNECTs one address may make at once'),
  'jwt-max-lifetime': flag('jwtMaxLifetimeSec', 'integer', 'longest token lifetime accepted (exp - now), in seconds; 0 = no bound', 'SEC'),
  'login-failures-per-account': flag('loginFailuresPerAccount', 'integer', 'failed logins per account before the back-off (0 = not counted)'),
  'login-failures-per-ip': flag('loginFailuresPerIp', 'integer', 'failed logins per source address before the back-off (0 = not counted)'),
  'login-backoff-ms': flag('loginBackoffMs', 'integer', 'first login back-off, doubled per further failure', 'MS'),
  'login-backoff-max-ms': flag('loginBackoffMaxMs', 'integer', 'longest login back-off', 'MS'),
  'max-inflight-messages': flag('maxInflightMessages', 'integer', 'unreleased inbound QoS 2 messages per client id; one more closes the connection'),
  'max-queued-bytes': flag('maxQueuedBytes', 'integer', 'payload bytes kept per persistent session (oldest dropped beyond)'),
  'persistent-session-expiry': flag('persistentSessionExpiry', 'integer', 'seconds a persistent session outlives its last connection (0 = forever)', 'SECONDS'),
  redis: flag('redis', 'string', 'run as one node of a cluster whose state lives in this Redis (docs/cluster.md)', 'URL'),
  cluster: flag('cluster', 'string', 'cluster name: the key prefix that separates clusters sharing one Redis', 'NAME'),
  'node-timeout': flag('nodeTimeoutMs', 'integer', 'a node silent this long is declared down and its connections end (node_down)', 'MS'),
  'node-id': flag('nodeId', 'string', "this node's identity in the cluster (default: host name and MQTT port)", 'ID'),
};

export const SERVE_HELP: CommandHelp = {
  name: 'serve',
  summary: 'run the embedded MQTT broker with presence (the default command)',
  usage: '[options]',
  flags: { ...SERVE_FLAGS, config: CONFIG_FLAG },
  defaults: DEFAULT_SERVE_CONFIG as unknown as Record<string, unknown>,
  notes: [
    'MQTT on --mqtt-port, HTTP (demo page, /mqtt WebSocket, /healthz, /metrics, /v1) on --http-port.',
    'Beyond loopback it refuses to start unless authentication is configured or --allow-anonymous is given.',
    'SIGHUP re-reads the users file; SIGINT/SIGTERM publish offline for everyone and stop.',
  ],
  examples: [
    'presence-bridge serve',
    'presence-bridge serve --mqtt-port 0 --http-port 0 --grace 2000',
    'presence-bridge serve --host 0.0.0.0 --users-file users.json --api-token "$(openssl rand -hex 16)"',
    'presence-bridge serve --jwt-secret-file secret.txt --authorization shared-group',
  ],
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

import { DEFAULT_ATTACH_CONFIG, resolveAttachConfig } from '../attach/config.js';
import { startAttach } from '../attach/start.js';
import { createLogger } from '../log/logger.js';
import { CONFIG_FLAG, configLayers, flag, SHARED_FLAGS, type FlagTable } from './flags.js';
import type { CommandHelp } from './help.js';
import { onSignals } from './serve.js';

/** The broker password may come from the environment, to keep it off the command line. */
export const PASSWORD_ENV = 'PRESENCE_BRIDGE_PASSWORD';

const ATTACH_FLAGS: FlagTable = {
  ...SHARED_FLAGS,
  broker: flag('broker', 'string', 'the existing broker: mqtt://, mqtts://, ws:// or wss://', 'URL'),
  username: flag('username', 'string', "the bridge's MQTT username on that broker"),
  password: flag('password', 'string', `its password (better: the ${PASSWORD_ENV} environment variable)`),
  'bridge-id': flag('bridgeId', 'string', "the bridge's MQTT client id and status topic presence/bridge/<id>", 'ID'),
  'reconnect-ms': flag('reconnectMs', 'integer', 'delay between attempts to reach the broker', 'MS'),
  redis: flag('redis', 'string', 'several bridges on one broker: one active (a lease in this Redis), the others stand by', 'URL'),
  cluster: flag('cluster', 'string', 'cluster name: the key prefix that separates clusters sharing one Redis', 'NAME'),
  'node-timeout': flag('nodeTimeoutMs', 'integer', 'a standby takes over when the active bridge is silent this long', 'MS'),
  'takeover-window': flag('takeoverWindowMs', 'integer', 'how long a will waits for a birth on its topic (a takeover) before it is an offline (0 = never)', 'MS'),
  'rebirth-window': flag('rebirthWindowMs', 'integer', 'after a broker restart, how long a restored birth may wait to be renewed (then broker_restart)', 'MS'),
};

export const ATTACH_HELP: CommandHelp = {
  name: 'attach',
  summary: 'add presence to an existing broker (Mosquitto, EMQX, HiveMQ, ...) as its MQTT client',
  usage: '--broker URL [options]',
  flags: { ...ATTACH_FLAGS, config: CONFIG_FLAG },
  defaults: DEFAULT_ATTACH_CONFIG as unknown as Record<string, unknown>,
  notes: [
    'Presence comes from the announcement protocol (docs/protocol.md); the broker needs the ACL of docs/attach.md.',
    'HTTP (/healthz, /metrics, /v1) on --http-port, 8081 by default so that serve and attach can run side by side.',
    `The password may come from $${PASSWORD_ENV} instead of --password.`,
  ],
  examples: [
    'presence-bridge attach --broker mqtt://127.0.0.1:1883',
    `${PASSWORD_ENV}=secret presence-bridge attach --broker mqtt://broker:1883 --username presence-bridge`,
    'presence-bridge attach --broker mqtts://broker:8883 --host 0.0.0.0 --api-token "$(cat api-token)"',
  ],
};

export async function runAttach(args: string[]): Promise<void> {
  const [fromFile, fromFlags] = configLayers(args, ATTACH_FLAGS);
  fromFlags.password ??= process.env[PASSWORD_ENV];
  const config = resolveAttachConfig(fromFile, fromFlags);
  const log = createLogger(config.logLevel);
  if (config.redis) {
    // Several bridges, one active (docs/cluster.md, "attach --redis").
    const { runActiveStandby } = await import('../store/attach-active.js');
    const stop = await runActiveStandby(config, log);
    return onSignals(async (signal) => {
      log.info('shutting down', { signal });
      await stop();
    });
  }
  const running = await startAttach(config, log);
  onSignals(async (signal) => {
    log.info('shutting down', { signal });
    await running.close();
  });
}

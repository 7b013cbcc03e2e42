import { resolveAttachConfig } from '../attach/config.js';
import { startAttach } from '../attach/start.js';
import { createLogger } from '../log.js';
import { configLayers, flag, SHARED_FLAGS, type FlagTable } from './flags.js';
import { onSignals } from './serve.js';

/** The broker password may come from the environment, to keep it off the command line. */
export const PASSWORD_ENV = 'PRESENCE_BRIDGE_PASSWORD';

const ATTACH_FLAGS: FlagTable = {
  ...SHARED_FLAGS,
  broker: flag('broker'),
  username: flag('username'),
  password: flag('password'),
  'bridge-id': flag('bridgeId'),
  'reconnect-ms': flag('reconnectMs', 'integer'),
  redis: flag('redis'),
  cluster: flag('cluster'),
  'node-timeout': flag('nodeTimeoutMs', 'integer'),
  'takeover-window': flag('takeoverWindowMs', 'integer'),
  'rebirth-window': flag('rebirthWindowMs', 'integer'),
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

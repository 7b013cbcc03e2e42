import type { AddressInfo } from 'node:net';
import { PresenceTracker } from '../core/tracker.js';
import type { Router } from '../http/router.js';
import type { Logger } from '../log.js';
import { Topics } from '../topics.js';
import { AttachBridge } from './bridge.js';
import type { AttachConfig } from './config.js';
import { attachHttp } from './http.js';

export interface RunningBridge {
  readonly bridge: AttachBridge;
  readonly tracker: PresenceTracker;
  readonly router: Router;
  readonly httpPort: number;
  close(): Promise<void>;
}

/**
 * `attach`: presence for an existing broker. Starts the HTTP listener and the bridge; the bridge keeps
 * (re)connecting on its own, so a broker that is down at start is not an error.
 */
export async function startAttach(config: AttachConfig, log: Logger): Promise<RunningBridge> {
  const topics = new Topics({ prefix: config.prefix, groupPrefix: config.groupPrefix });
  const tracker = new PresenceTracker({
    graceMs: config.graceMs,
    onError: (error) => log.error('presence change failed', { error }),
  });
  const bridge = new AttachBridge({ config, tracker, topics, log });
  const { router, server } = attachHttp(bridge, log);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.httpPort, config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await bridge.close();
    throw error;
  }
  const httpPort = (server.address() as AddressInfo).port;
  log.info('listening', { mode: 'attach', broker: config.broker, bridgeId: config.bridgeId, host: config.host, httpPort });

  let closed: Promise<void> | undefined;
  return {
    bridge,
    tracker,
    router,
    httpPort,
    close: () => {
      closed ??= (async () => {
        server.close();
        await tracker.flushGrace();
        await bridge.close();
        server.closeAllConnections();
        log.info('stopped', { mode: 'attach' });
      })();
      return closed;
    },
  };
}

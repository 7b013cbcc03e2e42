import type { Server } from 'node:http';
import { createHttpServer } from '../http/server.js';
import { Router, sendJson } from '../http/router.js';
import type { Logger } from '../log.js';
import type { AttachBridge } from './bridge.js';

/**
 * Attach mode's HTTP listener: the same server and router as serve mode. The routes both modes share
 * (queries, metrics: built from the tracker) mount on the returned router beside /healthz. MQTT over
 * WebSocket is the attached broker's business, so /mqtt upgrades are closed.
 */
export function attachHttp(bridge: AttachBridge, log: Logger): { router: Router; server: Server } {
  const router = new Router().get(/^\/healthz$/, (_req, res) => {
    const ok = bridge.synced;
    sendJson(res, ok ? 200 : 503, {
      status: ok ? 'ok' : 'unavailable',
      mode: 'attach',
      broker: bridge.connected ? 'connected' : 'disconnected',
      synced: ok,
      connections: bridge.liveConnections,
    });
  });
  const server = createHttpServer(router, (stream) => stream.destroy(), log);
  return { router, server };
}

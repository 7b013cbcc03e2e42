import type { Server } from 'node:http';
import { mountApi } from '../http/api.js';
import type { PresenceMetrics } from '../http/metrics.js';
import { createHttpServer } from '../http/server.js';
import { Router, sendJson } from '../http/router.js';
import type { Logger } from '../log/logger.js';
import type { QueryService } from '../queries/service.js';
import type { AttachBridge } from './bridge.js';

export interface AttachHttpOptions {
  queries: QueryService;
  metrics: PresenceMetrics;
  apiToken?: string;
  /** Set: /v1 answers 403 with this reason (src/http/api-access.ts). */
  closedBecause?: string;
}

/**
 * Attach mode's HTTP listener: the same server, router, /v1 API and /metrics as serve mode, built on
 * the bridge's tracker, beside an attach-specific /healthz. MQTT over WebSocket is the attached
 * broker's business, so /mqtt upgrades are closed.
 */
export function attachHttp(bridge: AttachBridge, log: Logger, options: AttachHttpOptions): { router: Router; server: Server } {
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
  mountApi(router, { service: options.queries, apiToken: options.apiToken, closedBecause: options.closedBecause });
  options.metrics.mount(router);
  const server = createHttpServer(router, (stream) => stream.destroy(), log);
  return { router, server };
}

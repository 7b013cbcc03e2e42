import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { authenticationConfigured, ConfigError, isLoopback, type ServeConfig } from './config.js';
import { createSecurity, type SecurityExtras } from './auth/security.js';
import { PresenceBroker } from './broker/presence-broker.js';
import { serveQueries } from './broker/query.js';
import { mountApi } from './http/api.js';
import { apiAccess } from './http/api-access.js';
import { PresenceMetrics } from './http/metrics.js';
import { createHttpServer } from './http/server.js';
import { Router, sendJson } from './http/router.js';
import { registerBrowserAssets } from './http/browser-assets.js';
import { registerDemoConfig } from './http/demo-config.js';
import { listen } from './listen.js';
import type { Logger } from './log.js';
import { QueryService, queryLimits } from './queries/service.js';

export interface RunningServer {
  readonly broker: PresenceBroker;
  readonly router: Router;
  readonly host: string;
  readonly mqttPort: number;
  readonly httpPort: number;
  /** Re-reads the users file (what SIGHUP does); connections are kept. */
  reload(): Promise<void>;
  close(): Promise<void>;
}

/** `serve`: the embedded broker with presence, on TCP and on WebSocket beside the HTTP API. */
export async function startServer(config: ServeConfig, log: Logger, extras: SecurityExtras = {}): Promise<RunningServer> {
  const authenticated = authenticationConfigured(config) || (extras.authenticators?.length ?? 0) > 0;
  if (!isLoopback(config.host) && !config.allowAnonymous && !authenticated) {
    throw new ConfigError(
      `refusing to listen on ${config.host} with anonymous clients: bind to a loopback address, configure authentication, or pass --allow-anonymous`,
    );
  }
  const security = await createSecurity(config, log, extras);
  // Created first, as the broker reports to it; its gauges read the tracker only when scraped.
  const metrics = new PresenceMetrics(() => broker.tracker.stats());
  const broker = await PresenceBroker.create({
    security,
    layout: { prefix: config.prefix, groupPrefix: config.groupPrefix },
    graceMs: config.graceMs,
    maxDataBytes: config.maxDataBytes,
    maxQueuedMessages: config.maxQueuedMessages,
    log,
    onPublished: (event) => metrics.eventPublished(event),
    onRefused: (what, reason) => metrics.refused(what, reason),
  });
  const queries = new QueryService(broker.tracker, {
    limits: queryLimits(config),
    observe: (method, via, code, seconds) => metrics.queryAnswered(method, via, code, seconds),
    log,
  });
  serveQueries(broker, queries, log);
  const router = new Router().get(/^\/healthz$/, (_req, res) => {
    sendJson(res, 200, { status: 'ok', mode: 'serve', connections: broker.connectedClients });
  });
  registerBrowserAssets(router);
  registerDemoConfig(router, security);
  const access = apiAccess(config, security);
  mountApi(router, { service: queries, apiToken: config.apiToken, closedBecause: access.closedBecause });
  metrics.mount(router);
  // No Nagle: a reply's PUBLISH after a PUBACK otherwise waits ~40 ms for the client's delayed ACK.
  const tcp = createTcpServer({ noDelay: true }, (socket) => broker.aedes.handle(socket));
  const http = createHttpServer(router, (stream, req) => broker.aedes.handle(stream, req), log);
  try {
    await listen(tcp, config.mqttPort, config.host, { name: 'MQTT', portFlag: '--mqtt-port' });
    await listen(http, config.httpPort, config.host, { name: 'HTTP', portFlag: '--http-port' });
  } catch (error) {
    tcp.close();
    http.close();
    await broker.close();
    throw error;
  }
  const mqttPort = (tcp.address() as AddressInfo).port;
  const httpPort = (http.address() as AddressInfo).port;
  log.info('listening', { mode: 'serve', host: config.host, mqttPort, httpPort, websocket: `/mqtt`, graceMs: config.graceMs, api: access.api });
  if (access.closedBecause) log.warn(access.closedBecause);
  if (access.openWarning) log.warn(access.openWarning);
  if (security.authRequired) {
    log.info('authentication required: anonymous clients are refused', {
      authenticators: security.authenticatorNames,
      authorization: security.policy.name,
    });
  } else {
    log.warn('ANONYMOUS CLIENTS ALLOWED: no authentication is configured, any client may claim any user id', {
      host: config.host,
      loopbackOnly: isLoopback(config.host),
      authorization: security.policy.name,
    });
  }

  let closed: Promise<void> | undefined;
  return {
    broker,
    router,
    host: config.host,
    mqttPort,
    httpPort,
    reload: () => security.reload(),
    close: () => {
      closed ??= (async () => {
        tcp.close();
        http.close();
        await broker.close();
        http.closeAllConnections();
        log.info('stopped', { mode: 'serve' });
      })();
      return closed;
    },
  };
}

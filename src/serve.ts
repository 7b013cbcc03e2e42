import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { authenticationConfigured, ConfigError, type ServeConfig } from './config.js';
import { isLoopback } from './config/loopback.js';
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
import type { Logger } from './log/logger.js';
import type { FeedHooks } from './feed/intervals.js';
import { intervalMetrics } from './feed/interval-metrics.js';
import type { Scheduler } from './core/tracker.js';
import { QueryService, queryLimits } from './queries/service.js';
import { WebhookFeed } from './feed/webhooks.js';

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

/** What a caller (or a test) may plug into `startServer` beside the config. */
export interface ServerExtras extends SecurityExtras {
  /** The broker's timers (persistent session expiry); real time by default. */
  scheduler?: Scheduler;
}

/** `serve`: the embedded broker with presence, on TCP and on WebSocket beside the HTTP API. */
export async function startServer(config: ServeConfig, log: Logger, extras: ServerExtras = {}, feed: FeedHooks = {}): Promise<RunningServer> {
  const authenticated = authenticationConfigured(config) || (extras.authenticators?.length ?? 0) > 0;
  if (!isLoopback(config.host) && !config.allowAnonymous && !authenticated) {
    throw new ConfigError(
      `refusing to listen on ${config.host} with anonymous clients: bind to a loopback address, configure authentication, or pass --allow-anonymous`,
    );
  }
  const security = await createSecurity(config, log, extras);
  // Cluster mode (docs/cluster.md): state in Redis, shared with every node of the cluster.
  // Loaded only with --redis: without it nothing of the cluster code (or ioredis) is even imported.
  const cluster = config.redis
    ? await (await import('./store/cluster.js')).connectCluster(config, log, (userId) => security.trustedData(userId))
    : undefined;
  // Created first, as the broker reports to it; its gauges read the tracker only when scraped.
  const metrics = new PresenceMetrics(() => broker.tracker.stats());
  const webhooks = WebhookFeed.start(config, log, metrics.registry, feed);
  const broker = await PresenceBroker.create({
    security,
    layout: { prefix: config.prefix, groupPrefix: config.groupPrefix },
    graceMs: config.graceMs,
    maxDataBytes: config.maxDataBytes,
    maxQueuedMessages: config.maxQueuedMessages,
    maxInflightMessages: config.maxInflightMessages,
    maxQueuedBytes: config.maxQueuedBytes,
    persistentSessionExpiryMs: config.persistentSessionExpiry * 1000,
    scheduler: extras.scheduler,
    intervals: {
      announceMax: config.announceMax,
      intervalMs: config.intervalMs,
      intervalMaxIds: config.intervalMaxIds,
      scheduler: feed.scheduler,
      onInterval: intervalMetrics(metrics.registry),
    },
    maxUpdatesPerMinute: config.maxUpdatesPerMinute,
    log,
    onPublished: (event) => metrics.eventPublished(event),
    onRefused: (what, reason) => metrics.refused(what, reason),
    ...(cluster && { cluster: cluster.parts, tracker: cluster.tracker }),
  });
  if (webhooks) broker.publisher.observe((event) => webhooks.accept(event));
  if (cluster) {
    await cluster.join(broker);
    cluster.registerMetrics(metrics.registry, broker);
  }
  const queries = new QueryService(broker.tracker, {
    limits: queryLimits(config),
    observe: (method, via, code, seconds) => metrics.queryAnswered(method, via, code, seconds),
    log,
  });
  serveQueries(broker, queries, log);
  const router = new Router().get(/^\/healthz$/, (_req, res) => {
    if (cluster && !cluster.healthy()) {
      return sendJson(res, 503, { status: 'unavailable', mode: 'serve', reason: 'Redis unreachable', node: cluster.nodeId });
    }
    sendJson(res, 200, { status: 'ok', mode: 'serve', connections: broker.connectedClients, ...(cluster && { node: cluster.nodeId }) });
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
    await webhooks?.close();
    await cluster?.close();
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
        // After the broker: its shutdown offlines are webhook events too.
        await webhooks?.close();
        await cluster?.close();
        http.closeAllConnections();
        log.info('stopped', { mode: 'serve' });
      })();
      return closed;
    },
  };
}

import type { AddressInfo } from 'node:net';
import { PresenceTracker } from '../core/tracker.js';
import { PresenceMetrics } from '../http/metrics.js';
import type { Router } from '../http/router.js';
import { listen } from '../listen.js';
import type { Logger } from '../log/logger.js';
import { intervalMetrics } from '../feed/interval-metrics.js';
import type { FeedHooks } from '../feed/intervals.js';
import { apiAccess } from '../http/api-access.js';
import { answerQueries } from '../queries/mqtt.js';
import { QueryService, queryLimits } from '../queries/service.js';
import { Topics } from '../topics.js';
import { AttachBridge } from './bridge.js';
import type { AttachConfig } from './config.js';
import { attachHttp } from './http.js';
import { WebhookFeed } from '../feed/webhooks.js';

export interface RunningBridge {
  readonly bridge: AttachBridge;
  readonly tracker: PresenceTracker;
  readonly queries: QueryService;
  readonly metrics: PresenceMetrics;
  readonly router: Router;
  readonly httpPort: number;
  close(): Promise<void>;
}

/**
 * `attach`: presence for an existing broker. Starts the HTTP listener and the bridge; the bridge keeps
 * (re)connecting on its own, so a broker that is down at start is not an error. The query API (MQTT
 * request/reply through the broker, HTTP /v1) and /metrics are serve mode's, over the bridge's tracker.
 */
export async function startAttach(config: AttachConfig, log: Logger, feed: FeedHooks = {}): Promise<RunningBridge> {
  const topics = new Topics({ prefix: config.prefix, groupPrefix: config.groupPrefix });
  const tracker = new PresenceTracker({
    graceMs: config.graceMs,
    scheduler: feed.scheduler,
    onError: (error) => log.error('presence change failed', { error }),
  });
  // Created first, as the bridge reports to it; its gauges read the tracker only when scraped.
  const metrics = new PresenceMetrics(() => tracker.stats());
  const webhooks = WebhookFeed.start(config, log, metrics.registry, feed);
  const bridge = new AttachBridge({
    config,
    tracker,
    topics,
    log,
    onPublished: (event) => metrics.eventPublished(event),
    onRefused: (label) => metrics.refused('publish', label),
    intervals: { scheduler: feed.scheduler, onInterval: intervalMetrics(metrics.registry) },
    scheduler: feed.scheduler,
  });
  if (webhooks) bridge.publisher.observe((event) => webhooks.accept(event));
  const queries = new QueryService(tracker, {
    limits: queryLimits(config),
    observe: (method, via, code, seconds) => metrics.queryAnswered(method, via, code, seconds),
    log,
  });
  answerQueries(bridge, queries, log);
  const access = apiAccess(config);
  const { router, server } = attachHttp(bridge, log, { queries, metrics, apiToken: config.apiToken, closedBecause: access.closedBecause });
  try {
    await listen(server, config.httpPort, config.host, { name: 'HTTP', portFlag: '--http-port' });
  } catch (error) {
    await bridge.close();
    await webhooks?.close();
    throw error;
  }
  const httpPort = (server.address() as AddressInfo).port;
  log.info('listening', {
    mode: 'attach',
    broker: config.broker,
    bridgeId: config.bridgeId,
    host: config.host,
    httpPort,
    api: access.api,
  });
  if (access.closedBecause) log.warn(access.closedBecause);
  if (access.openWarning) log.warn(access.openWarning);

  let closed: Promise<void> | undefined;
  return {
    bridge,
    tracker,
    queries,
    metrics,
    router,
    httpPort,
    close: () => {
      closed ??= (async () => {
        server.close();
        await tracker.flushGrace();
        await bridge.close();
        await webhooks?.close();
        server.closeAllConnections();
        log.info('stopped', { mode: 'attach' });
      })();
      return closed;
    },
  };
}

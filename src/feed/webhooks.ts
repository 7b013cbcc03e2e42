import type { Registry } from 'prom-client';
import { ConfigError } from '../config.js';
import { realScheduler } from '../core/tracker.js';
import type { Logger } from '../log/logger.js';
import type { FeedHooks } from './hooks.js';
import { webhookReceivers, type WebhookConfig } from './webhook-config.js';
import { WebhookDelivery } from './webhook-delivery.js';
import { WebhookMetrics } from './webhook-metrics.js';
import type { WebhookEvent } from './webhook-queue.js';

/** An event as the publisher hands it over: its kind and its payload (PresenceEvent, interval events). */
export interface Published {
  kind: string;
  event: { action: string };
}

/** Time for webhooks: the feed's hooks (src/feed/hooks.ts), so tests drive batching, backoff and shutdown. */
export type WebhookClock = FeedHooks;

/**
 * The server-side feed (docs/webhooks.md): every event handed to the MQTT publisher goes, in the same
 * order, to each receiver's queue; each receiver is delivered to on its own. `accept` is synchronous
 * and never waits for a receiver.
 */
export class WebhookFeed {
  private constructor(
    private readonly deliveries: WebhookDelivery[],
    private readonly shutdownMs: number,
  ) {}

  /**
   * Starts delivery to the receivers `config` names, reporting to `registry`; undefined when there are
   * none. Throws ConfigError when a secret file cannot be read.
   */
  static start(config: WebhookConfig, log: Logger, registry: Registry, clock: WebhookClock = {}): WebhookFeed | undefined {
    let receivers;
    try {
      receivers = webhookReceivers(config);
    } catch (error) {
      throw new ConfigError(`invalid configuration: ${(error as Error).message}`);
    }
    if (receivers.length === 0) return undefined;
    const deliveries: WebhookDelivery[] = [];
    const metrics = new WebhookMetrics(registry, receivers, (receiver) => deliveries[receiver.index]!.queue.length);
    for (const receiver of receivers) {
      deliveries.push(
        new WebhookDelivery({
          receiver,
          maxQueue: config.webhookMaxQueue,
          retryForMs: config.webhookRetryForMs,
          backoffMs: config.webhookBackoffMs,
          maxBackoffMs: config.webhookMaxBackoffMs,
          timeoutMs: config.webhookTimeoutMs,
          scheduler: clock.scheduler ?? realScheduler,
          now: clock.now ?? Date.now,
          random: clock.random ?? Math.random,
          log,
          observer: metrics,
        }),
      );
      log.info('webhook receiver configured', { receiver: receiver.index, host: receiver.host, signed: receiver.secret !== undefined, events: receiver.actions ? [...receiver.actions] : 'all' });
    }
    return new WebhookFeed(deliveries, config.webhookShutdownMs);
  }

  /**
   * Queues one published event for every receiver that wants its action. `type` names the topic it was
   * published on: `user` for presence/user/<id>, `group` for presence/group/<g> (interval events too).
   */
  accept(event: Published): void {
    let json: WebhookEvent | undefined;
    for (const delivery of this.deliveries) {
      if (!delivery.wants(event.event.action)) continue;
      json ??= JSON.stringify({ type: event.kind === 'user' ? 'user' : 'group', ...event.event });
      delivery.accept(json);
    }
  }

  /** Gives pending batches up to `webhookShutdownMs` to go out; what is left is dropped and logged. */
  async close(): Promise<void> {
    await Promise.all(this.deliveries.map((delivery) => delivery.close(this.shutdownMs)));
  }
}

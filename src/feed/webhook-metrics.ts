import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Receiver } from './webhook-config.js';
import type { DeliveryObserver, DropReason, FailureCause } from './webhook-delivery.js';

type Labels = 'receiver' | 'host';

/**
 * Webhook metrics, in the server's own registry (src/http/metrics.ts). Every series is labelled with
 * the receiver's index in the configuration and its host, never its URL: a path or query may carry a
 * token. Series start at 0 for every receiver, so a dashboard sees a receiver before its first event.
 */
export class WebhookMetrics implements DeliveryObserver {
  private readonly batches: Counter<Labels>;
  private readonly events: Counter<Labels>;
  private readonly failures: Counter<Labels | 'cause'>;
  private readonly retries: Counter<Labels>;
  private readonly drops: Counter<Labels | 'reason'>;
  private readonly latency: Histogram<Labels>;
  private readonly requests: Histogram<Labels>;

  constructor(registry: Registry, receivers: readonly Receiver[], queueLength: (receiver: Receiver) => number) {
    const registers = [registry];
    const labelNames: Labels[] = ['receiver', 'host'];
    this.batches = new Counter({ name: 'presence_webhook_batches_delivered_total', help: 'Webhook batches a receiver accepted (2xx)', labelNames, registers });
    this.events = new Counter({ name: 'presence_webhook_events_delivered_total', help: 'Events in webhook batches a receiver accepted', labelNames, registers });
    this.failures = new Counter({
      name: 'presence_webhook_failed_tries_total',
      help: 'Webhook tries that failed, by cause: status (a non-2xx answer), timeout, network (refused, reset, DNS)',
      labelNames: [...labelNames, 'cause'],
      registers,
    });
    this.retries = new Counter({ name: 'presence_webhook_retries_total', help: 'Webhook tries that repeated a failed one', labelNames, registers });
    this.drops = new Counter({
      name: 'presence_webhook_events_dropped_total',
      help: 'Webhook events given up on, by reason: queue_full (oldest dropped), expired (retried too long), shutdown',
      labelNames: [...labelNames, 'reason'],
      registers,
    });
    new Gauge({
      name: 'presence_webhook_queue_events',
      help: 'Events held for a webhook receiver (waiting, in flight, being batched)',
      labelNames,
      registers,
      collect() {
        for (const receiver of receivers) this.set(labelsOf(receiver), queueLength(receiver));
      },
    });
    const buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 300, 3600];
    this.latency = new Histogram({
      name: 'presence_webhook_delivery_seconds',
      help: 'From a batch\'s first event entering the queue to the receiver\'s 2xx (batching, queueing and retries included)',
      labelNames,
      buckets,
      registers,
    });
    this.requests = new Histogram({ name: 'presence_webhook_request_seconds', help: 'Duration of webhook tries that succeeded', labelNames, buckets, registers });
    for (const receiver of receivers) {
      const labels = labelsOf(receiver);
      for (const counter of [this.batches, this.events, this.retries]) counter.inc(labels, 0);
      for (const cause of ['status', 'timeout', 'network'] satisfies FailureCause[]) this.failures.inc({ ...labels, cause }, 0);
      for (const reason of ['queue_full', 'expired', 'shutdown'] satisfies DropReason[]) this.drops.inc({ ...labels, reason }, 0);
    }
  }

  delivered(receiver: Receiver, events: number, latencySeconds: number, requestSeconds: number): void {
    const labels = labelsOf(receiver);
    this.batches.inc(labels);
    this.events.inc(labels, events);
    this.latency.observe(labels, latencySeconds);
    this.requests.observe(labels, requestSeconds);
  }

  failed(receiver: Receiver, cause: FailureCause): void {
    this.failures.inc({ ...labelsOf(receiver), cause });
  }

  retried(receiver: Receiver): void {
    this.retries.inc(labelsOf(receiver));
  }

  dropped(receiver: Receiver, events: number, reason: DropReason): void {
    this.drops.inc({ ...labelsOf(receiver), reason }, events);
  }
}

function labelsOf(receiver: Receiver): Record<Labels, string> {
  return { receiver: String(receiver.index), host: receiver.host };
}

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { FeedEvent } from '../feed/intervals.js';
import type { StoreStats } from '../core/store.js';
import type { RefusalCode } from '../log/refusals.js';
import type { Transport } from '../queries/service.js';
import type { Router } from './router.js';

export type RefusalKind = 'connection' | 'publish' | 'subscribe';

/**
 * The product's Prometheus metrics, in a registry of their own (not prom-client's global one), so
 * several servers in one process, as in the tests, each report their own numbers. State gauges are
 * read from the presence model at scrape time; counters are fed by the edges' hooks.
 */
export class PresenceMetrics {
  readonly registry = new Registry();
  private readonly published: Counter<'kind' | 'action'>;
  private readonly queries: Histogram<'method' | 'transport' | 'code'>;
  private readonly refusals: Record<RefusalKind, Counter<'reason'>>;
  private scrape: Promise<StoreStats> | undefined;

  constructor(stats: () => Promise<StoreStats>, options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    // One stats read per scrape, shared by every gauge (they are all collected in the same pass).
    const read = (): Promise<StoreStats> => {
      this.scrape ??= stats().finally(() => (this.scrape = undefined));
      return this.scrape;
    };
    const gauge = (name: string, help: string, pick: (s: StoreStats) => number) =>
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          this.set(pick(await read()));
        },
      });
    gauge('presence_connections', 'Connections presence is tracking (one per MQTT client id)', (s) => s.connections);
    gauge('presence_users', 'Users the presence model holds (online, pending offline, or a member of a group)', (s) => s.users);
    gauge('presence_users_online', 'Users online', (s) => s.onlineUsers);
    gauge('presence_groups', 'Groups with at least one member', (s) => s.groups);
    gauge('presence_memberships', 'Group memberships (user, group pairs)', (s) => s.memberships);

    this.published = new Counter({
      name: 'presence_events_published_total',
      help: 'Presence events published, by topic kind (user, group) and action',
      labelNames: ['kind', 'action'],
      registers,
    });
    for (const action of ['online', 'offline']) this.published.inc({ kind: 'user', action }, 0);
    for (const action of ['online', 'offline', 'join', 'leave']) this.published.inc({ kind: 'group', action }, 0);

    this.queries = new Histogram({
      name: 'presence_query_duration_seconds',
      help: 'Time to answer a query, by method, transport (mqtt, http) and code (200 = answered)',
      labelNames: ['method', 'transport', 'code'],
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    });

    const refused = (what: string) =>
      new Counter({
        name: `presence_refused_${what}_total`,
        help: `${what[0]!.toUpperCase()}${what.slice(1)} refused, by reason`,
        labelNames: ['reason'],
        registers,
      });
    this.refusals = { connection: refused('connections'), publish: refused('publishes'), subscribe: refused('subscribes') };

    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** For `PresenceBrokerOptions.onPublished` (or the bridge's equivalent). */
  eventPublished(event: FeedEvent): void {
    this.published.inc({ kind: event.kind, action: event.event.action });
  }

  /** For `PresenceBrokerOptions.onRefused`: the `reason` label is the refusal's code (src/log/refusals.ts). */
  refused(what: RefusalKind, code: RefusalCode): void {
    this.refusals[what].inc({ reason: code });
  }

  /** For `QueryService`'s observer. */
  queryAnswered(method: string, via: Transport, code: number, seconds: number): void {
    this.queries.observe({ method, transport: via, code: String(code === 0 ? 200 : code) }, seconds);
  }

  /** Serves the registry at GET /metrics in the Prometheus text format. */
  mount(router: Router): void {
    router.get(/^\/metrics$/, async (_req, res) => {
      const text = await this.registry.metrics();
      res.writeHead(200, { 'content-type': this.registry.contentType, 'cache-control': 'no-store' });
      res.end(text);
    });
  }
}

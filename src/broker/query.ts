import type { Logger } from '../log.js';
import type { QueryService } from '../queries/service.js';
import type { PresenceBroker } from './presence-broker.js';

/**
 * MQTT request/reply: a client's publish to its own `presence/query/<clientId>` (checked in
 * publish.ts) is answered on `presence/reply/<clientId>`, which only that client can receive.
 *
 * A reply leaves only after every presence event its answer may reflect has been published: the
 * model's queue is settled and the publisher drained. Those events are then delivered to the asker
 * before the reply (the broker writes to one client in publish order), so a client that takes a
 * snapshot and buffers events meanwhile receives, after the reply, only events newer than it.
 */
export function serveQueries(broker: PresenceBroker, service: QueryService, log: Logger): void {
  broker.setQueryHandler((client, payload) => {
    const clientId = client.id;
    (async () => {
      const body = await service.request(payload, 'mqtt');
      await broker.tracker.settled();
      await broker.publisher.drained();
      broker.reply(clientId, body);
    })().catch((error: unknown) => log.error('query reply failed', { clientId, error }));
  });
}

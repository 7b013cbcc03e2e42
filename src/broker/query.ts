import type { Logger } from '../log.js';
import { answerQueries } from '../queries/mqtt.js';
import type { QueryService } from '../queries/service.js';
import type { PresenceBroker } from './presence-broker.js';

/**
 * Serve mode's MQTT queries: a client's publish to its own `presence/query/<clientId>` (checked in
 * publish.ts) is answered on `presence/reply/<clientId>`, which only that client can receive (the
 * delivery filter in publish.ts). Ordering of replies after events: src/queries/mqtt.ts.
 */
export function serveQueries(broker: PresenceBroker, service: QueryService, log: Logger): void {
  answerQueries(
    {
      settled: () => broker.tracker.settled(),
      drained: () => broker.publisher.drained(),
      onQuery: (handler) => broker.setQueryHandler((client, payload) => handler(client.id, payload)),
      reply: (clientId, body) => broker.reply(clientId, body),
    },
    service,
    log,
  );
}

import type { Viewer } from '../auth/policy.js';
import type { Security } from '../auth/security.js';
import type { Logger } from '../log/logger.js';
import { answerQueries } from '../queries/mqtt.js';
import type { QueryService, WatchScope } from '../queries/service.js';
import type { PresenceBroker } from './presence-broker.js';

/**
 * Serve mode's MQTT queries: a client's publish to its own `presence/query/<clientId>` (checked in
 * publish.ts) is answered on `presence/reply/<clientId>`, which only that client can receive (the
 * delivery filter in publish.ts). Ordering of replies after events: src/queries/mqtt.ts.
 *
 * Each query is answered as its asker: the watch policy that filters the client's subscriptions
 * scopes its answers too (see `WatchScope`), so a query shows no more than a subscription would.
 */
export function serveQueries(broker: PresenceBroker, service: QueryService, log: Logger): void {
  answerQueries(
    {
      settled: () => broker.tracker.settled(),
      drained: () => broker.publisher.drained(),
      onQuery: (handler) =>
        broker.setQueryHandler((client, payload) => {
          // Taken when the question arrives: the identity is the connection's, even if it ends before the answer.
          const viewer = broker.viewer(client);
          const scope = watchScope(broker.security, viewer);
          handler({ clientId: client.id, userId: viewer?.userId, scope, policy: broker.security.policy.name }, payload);
        }),
      reply: (clientId, body) => broker.reply(clientId, body),
    },
    service,
    log,
  );
}

/** What the client may watch; undefined (everything, no per-id checks) under the built-in open policy. */
function watchScope(security: Security, viewer: Viewer | undefined): WatchScope | undefined {
  if (security.watchesAll) return undefined;
  if (!viewer) return { mayWatchUser: () => false, mayWatchGroup: () => false };
  return {
    mayWatchUser: (userId) => security.mayWatchUser(viewer, userId),
    mayWatchGroup: (groupId) => security.mayWatchGroup(viewer, groupId),
  };
}

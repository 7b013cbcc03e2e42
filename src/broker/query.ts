import type { Viewer } from '../auth/policy.js';
import type { Security } from '../auth/security.js';
import type { Logger } from '../log.js';
import { QueryCode, type QueryService, type WatchScope } from '../queries/service.js';
import type { PresenceBroker } from './presence-broker.js';
import { RefusalLog } from './refusal-log.js';

/**
 * MQTT request/reply: a client's publish to its own `presence/query/<clientId>` (checked in
 * publish.ts) is answered on `presence/reply/<clientId>`, which only that client can receive.
 *
 * Each query is answered as its asker: the watch policy that filters the client's subscriptions
 * scopes its answers too (see `WatchScope`), so a query shows no more than a subscription would.
 *
 * A reply leaves only after every presence event its answer may reflect has been published: the
 * model's queue is settled and the publisher drained. Those events are then delivered to the asker
 * before the reply (the broker writes to one client in publish order), so a client that takes a
 * snapshot and buffers events meanwhile receives, after the reply, only events newer than it.
 */
export function serveQueries(broker: PresenceBroker, service: QueryService, log: Logger): void {
  const refusals = new RefusalLog(log);
  broker.setQueryHandler((client, payload) => {
    const clientId = client.id;
    // Taken when the question arrives: the identity is the connection's, even if it ends before the answer.
    const viewer = broker.viewer(client);
    const scope = watchScope(broker.security, viewer);
    (async () => {
      const body = await service.request(payload, 'mqtt', scope);
      if ('error' in body && body.error.code === QueryCode.FORBIDDEN) {
        refusals.warn('query refused', { clientId, userId: viewer?.userId, reason: body.error.content, policy: broker.security.policy.name });
      }
      await broker.tracker.settled();
      await broker.publisher.drained();
      broker.reply(clientId, body);
    })().catch((error: unknown) => log.error('query reply failed', { clientId, error }));
  });
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

import { RefusalLog } from '../log/refusal-log.js';
import { refusal } from '../log/refusals.js';
import type { Logger } from '../log/logger.js';
import { QueryRateLimit } from './rate-limit.js';
import { QueryCode, type QueryService, type ReplyBody, type WatchScope } from './service.js';

/** Who asked: the reply goes to `clientId`; the answer is scoped to what `userId` may watch. */
export interface Asker {
  clientId: string;
  userId?: string;
  /** What the asker may watch; undefined when it may watch everything. */
  scope?: WatchScope;
  /** The watch policy's name, for the log of refused queries. */
  policy?: string;
}

/**
 * The MQTT side of the query API, whichever edge carries it (the embedded broker, the bridge beside
 * Mosquitto): it hears requests on `presence/query/<clientId>` and can answer on that client's reply topic.
 */
export interface QueryEndpoint {
  /** Resolves once every presence change received so far has been applied. */
  settled(): Promise<void>;
  /** Resolves once every presence event handed to the publisher so far has left. */
  drained(): Promise<void>;
  /** Registers the one handler for requests; the asker's client id is the one the topic named. */
  onQuery(handler: (asker: Asker, payload: Buffer) => void): void;
  /** Publishes a reply on the client's own `presence/reply/<clientId>`, QoS 1, not retained. */
  reply(clientId: string, body: ReplyBody): void;
}

/**
 * MQTT request/reply. A reply leaves only after every presence event its answer may reflect has been
 * published: the model's queue is settled and the publisher drained. Those events then reach the
 * asker before the reply (a broker delivers one publisher's messages to a subscriber in order), so a
 * client that takes a snapshot and buffers events meanwhile receives, after the reply, only events
 * newer than it. The service itself waits for changes received before the question (see
 * `QueryService.dispatch`), so an asker sees its own earlier joins and leaves.
 */
export function answerQueries(endpoint: QueryEndpoint, service: QueryService, log: Logger): void {
  const refusals = new RefusalLog(log);
  const rate = new QueryRateLimit(service.limits.ratePerClient, service.limits.burstPerClient, 'client');
  endpoint.onQuery(({ clientId, userId, scope, policy }, payload) => {
    // Over its rate, a client's query is answered 429 at once: no wait for the model, no read.
    const tooMany = rate.take(clientId);
    if (tooMany) {
      refusals.warn('query refused', refusal('too_many_queries', tooMany.content), { clientId, userId });
      endpoint.reply(clientId, service.refuse(payload, tooMany, 'mqtt'));
      return;
    }
    (async () => {
      const body = await service.request(payload, 'mqtt', scope);
      if ('error' in body && body.error.code === QueryCode.FORBIDDEN) {
        refusals.warn('query refused', refusal('not_allowed_to_watch', body.error.content), { clientId, userId, policy });
      }
      await endpoint.settled();
      await endpoint.drained();
      endpoint.reply(clientId, body);
    })().catch((error: unknown) => log.error('query reply failed', { clientId, error }));
  });
}

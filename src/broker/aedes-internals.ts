import type { Aedes, Client } from 'aedes';

/**
 * Access to what aedes does not expose as API, in one place: each function here relies on an internal
 * of aedes 1.2 (pinned ~1.2.0) and says which; a test fails if it changes.
 */

/**
 * The client whose SUBSCRIBE aedes is answering with retained messages, for the persistence's
 * `createRetainedStreamCombi(patterns)`, which is not told.
 *
 * Relies on aedes' `completeSubscribe` (lib/handlers/subscribe.js): it emits `subscribe (subs, client)`
 * and then, in the same synchronous run, asks the persistence for the retained stream. The client
 * noted by the `subscribe` event is handed out once, and forgotten at the next microtask in case no
 * stream was asked for (every filter refused).
 */
export function retainedStreamClient(aedes: Aedes): () => Client | undefined {
  let current: Client | undefined;
  aedes.prependListener('subscribe', (_subs, client) => {
    current = client;
    queueMicrotask(() => {
      if (current === client) current = undefined;
    });
  });
  return () => {
    const client = current;
    current = undefined;
    return client;
  };
}

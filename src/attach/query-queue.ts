import type { Logger } from '../log/logger.js';
import type { Asker } from '../queries/mqtt.js';

/** Queries held while a resync runs (answered once it is done); beyond this, dropped unanswered. */
const MAX_HELD_QUERIES = 10_000;

/**
 * Requests on `presence/query/<clientId>`, handed to the query handler in the order received. Those
 * that arrive during a resync wait for it (`hold`), and are answered from the new truth (`release`).
 * A retained request (a client may publish with the flag set) is delivered again at every resync; only
 * live requests are answered, each once.
 */
export class QueryQueue {
  handler: ((asker: Asker, payload: Buffer) => void) | undefined;
  private held: [clientId: string, payload: Buffer][] = [];
  /** Queries that arrived during a resync and waited for it. */
  heldCount = 0;

  constructor(private readonly log: Logger) {}

  receive(clientId: string, payload: Buffer, retained: boolean, resyncing: boolean): void {
    if (retained || !this.handler) return;
    if (!resyncing) return this.handler({ clientId }, payload);
    if (this.held.length >= MAX_HELD_QUERIES) {
      this.log.warn('query dropped: too many waiting for the resync', { clientId });
      return;
    }
    this.held.push([clientId, payload]);
    this.heldCount++;
  }

  /** A new resync: what was held for the last one is dropped (its askers time out and ask again). */
  reset(): void {
    this.held = [];
  }

  release(): void {
    for (const [clientId, payload] of this.held.splice(0)) this.handler?.({ clientId }, payload);
  }
}

import { Readable } from 'node:stream';
import type { Aedes, Client } from 'aedes';
import { retainedStreamClient } from './aedes-internals.js';

interface RetainedStreams {
  createRetainedStreamCombi(patterns: string[]): Readable;
}

/** What the replays are doing, for tests and metrics. */
export interface RetainedReplays {
  /** Replays still streaming to their client. */
  readonly active: number;
  /** Replays cut short because their client had gone, since start. */
  readonly stopped: number;
}

/**
 * Retained replays that end with their client.
 *
 * aedes answers a SUBSCRIBE by piping the persistence's retained stream into the client one packet at
 * a time, and keeps going after the client is gone: each packet then fails with a `connection closed`
 * Error whose unformatted stack pins the immediate that made it, and with it the previous packet's
 * Error, so one replay to a gone client holds memory in proportion to everything still to send until
 * it ends. 30,000 retained user records and 300 watchers that DISCONNECT at SUBACK took the heap to
 * 4 GB and crashed the process (issue 16). Here each replay checks its client before every packet and
 * stops, destroying the underlying stream, once the client is closed. A watcher that stalls (never
 * reads) holds one packet and its socket's buffer: aedes waits for `drain`, and after its
 * `drainTimeout` (60 s) closes the connection, which ends the replay too.
 *
 * This wraps whatever persistence aedes has (memory or Redis), so it applies to both.
 */
export function endReplaysWithClients(aedes: Aedes, persistence: RetainedStreams): RetainedReplays {
  const clientOf = retainedStreamClient(aedes);
  const create = persistence.createRetainedStreamCombi.bind(persistence);
  let active = 0;
  let stopped = 0;
  persistence.createRetainedStreamCombi = (patterns) => {
    const client = clientOf();
    const source = create(patterns);
    if (!client) return source;
    active++;
    const replay = Readable.from(untilClosed(source, client, () => stopped++), { objectMode: true, highWaterMark: 1 });
    replay.once('close', () => active--);
    return replay;
  };
  return {
    get active() {
      return active;
    },
    get stopped() {
      return stopped;
    },
  };
}

async function* untilClosed(source: Readable, client: Client, onStop: () => void): AsyncGenerator<unknown> {
  try {
    for await (const packet of source) {
      if (client.closed) {
        onStop();
        return;
      }
      yield packet;
    }
  } finally {
    source.destroy();
  }
}

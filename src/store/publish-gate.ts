import type { Redis } from 'ioredis';

interface Held {
  channel: string | Buffer;
  message: string | Buffer;
  resolve(receivers: number): void;
  reject(error: Error): void;
}

/**
 * Holds a node's PUBLISHes while its own subscriber connection is not subscribed, so nothing the node
 * publishes is lost to itself (mqemitter-redis delivers even local messages through Redis).
 *
 * Redis forwards a PUBLISH only to the subscribers it has when it runs it. The emitter's two
 * connections reconnect independently (a Redis restart, a network blip, `CLIENT KILL TYPE pubsub`), and
 * the publishing one often comes back first: without this, every message published before the
 * subscriber has subscribed again, presence events included, reaches no one on any node.
 *
 * - The gate opens once the subscriber is ready and a PING on it is answered: ioredis sends its
 *   re-subscriptions right when it becomes ready, and Redis answers one connection's commands in order,
 *   so the PONG comes after every SUBSCRIBE and PSUBSCRIBE is in force.
 * - It closes when the subscriber's connection closes. Messages sent but not yet acknowledged then may
 *   have missed it; they go back to the head of the held queue and are sent again, in their order,
 *   with the same bytes: mqemitter-redis' id in them lets every node drop a second copy (its LRU of
 *   ids, 10,000 entries for 60 s). The earlier attempt's answer is ignored.
 * - A held message's promise settles with its last attempt's answer, so aedes' PUBACK for it waits too.
 *
 * Held messages are in memory and unbounded, as ioredis' own offline queue is; the node refuses new
 * connections while its store is unreachable (cluster-node.ts).
 */
export function holdPublishesUntilSubscribed(pubConn: Redis, subConn: Redis): void {
  const publish = pubConn.publish.bind(pubConn) as (channel: string | Buffer, message: string | Buffer) => Promise<number>;
  let subscribed = false;
  let epoch = 0;
  const held: Held[] = [];
  const inflight = new Set<Held>();

  const send = (entry: Held): void => {
    inflight.add(entry);
    const sentIn = epoch;
    publish(entry.channel, entry.message).then(
      (receivers) => {
        if (sentIn !== epoch) return;
        inflight.delete(entry);
        entry.resolve(receivers);
      },
      (error: Error) => {
        if (sentIn !== epoch) return;
        inflight.delete(entry);
        entry.reject(error);
      },
    );
  };

  (pubConn as unknown as { publish: (channel: string | Buffer, message: string | Buffer) => Promise<number> }).publish = (channel, message) =>
    new Promise<number>((resolve, reject) => {
      const entry = { channel, message, resolve, reject };
      if (subscribed) send(entry);
      else held.push(entry);
    });

  subConn.on('close', () => {
    epoch++;
    subscribed = false;
    held.unshift(...inflight);
    inflight.clear();
  });
  subConn.on('ready', () => {
    const at = epoch;
    // After ioredis' ready handler has queued the re-subscriptions (in the same synchronous run).
    setImmediate(() => {
      subConn.ping().then(
        () => {
          if (at !== epoch || subscribed) return;
          subscribed = true;
          for (const entry of held.splice(0)) send(entry);
        },
        () => {},
      );
    });
  });
  if (subConn.status === 'ready') subConn.emit('ready');
  else if (subConn.status === 'wait') subConn.connect().catch(() => {});
}

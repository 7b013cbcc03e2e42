import { Redis, type RedisOptions } from 'ioredis';

interface Held {
  channel: string | Buffer;
  message: string | Buffer;
  resolve(receivers: number): void;
  reject(error: Error): void;
}

/**
 * The publishing connection of a node's emitter: it holds PUBLISHes while the emitter's subscriber
 * connection (`subscriber`) is not subscribed, so nothing the node publishes is lost to itself
 * (mqemitter-redis delivers even local messages through Redis).
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
export class GatedPublisher extends Redis {
  private subscribed = false;
  private epoch = 0;
  private readonly held: Held[] = [];
  private readonly inflight = new Set<Held>();

  constructor(url: string, options: RedisOptions, subscriber: Redis) {
    super(url, options);
    subscriber.on('close', () => {
      this.epoch++;
      this.subscribed = false;
      this.held.unshift(...this.inflight);
      this.inflight.clear();
    });
    subscriber.on('ready', () => {
      const at = this.epoch;
      // After ioredis' ready handler has queued the re-subscriptions (in the same synchronous run).
      setImmediate(() => {
        subscriber.ping().then(
          () => {
            if (at !== this.epoch || this.subscribed) return;
            this.subscribed = true;
            for (const entry of this.held.splice(0)) this.send(entry);
          },
          () => {},
        );
      });
    });
    if (subscriber.status === 'wait') subscriber.connect().catch(() => {});
  }

  /** PUBLISH (ioredis' signature without the callback form, which the emitter does not use). */
  override publish(channel: string | Buffer, message: string | Buffer): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const entry = { channel, message, resolve, reject };
      if (this.subscribed) this.send(entry);
      else this.held.push(entry);
    });
  }

  private send(entry: Held): void {
    this.inflight.add(entry);
    const sentIn = this.epoch;
    super.publish(entry.channel, entry.message).then(
      (receivers) => {
        if (sentIn !== this.epoch) return;
        this.inflight.delete(entry);
        entry.resolve(receivers);
      },
      (error: Error) => {
        if (sentIn !== this.epoch) return;
        this.inflight.delete(entry);
        entry.reject(error);
      },
    );
  }
}

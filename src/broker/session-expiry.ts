import type { Aedes, Client } from 'aedes';
import type { Scheduler } from '../core/tracker.js';

/** The parts of aedes' persistence an expired session is removed from (any persistence: memory or Redis). */
export interface SessionPersistence {
  cleanSubscriptions(client: { id: string }): Promise<unknown>;
  cleanIncoming?(client: { id: string }): Promise<unknown>;
}

export interface SessionExpiryOptions {
  /** How long a persistent session outlives its last connection; 0 = forever (the default, like Mosquitto). */
  expiryMs: number;
  scheduler: Scheduler;
  persistence: SessionPersistence;
  /** Drops the session's queued messages (offline-queue.ts). */
  clearQueue: (clientId: string) => void;
  /** Whether a connection currently holds the client id. */
  connected: (clientId: string) => boolean;
  onExpired: (clientId: string) => void;
}

/** What is waiting to expire, for tests and metrics. */
export interface SessionExpiry {
  /** Persistent sessions whose client is away, each with an expiry timer. */
  readonly pending: number;
}

/**
 * Persistent sessions (clean=false) end `expiryMs` after their last connection ends, like Mosquitto's
 * `persistent_client_expiration`: their subscriptions, queued messages and unreleased QoS 2 state are
 * removed, so a client id that never returns stops costing memory and stops collecting messages. A
 * connection with the client id before then keeps the session (and the timer starts again when it
 * ends). Group membership is presence state and belongs to the user, not to the session: it is not
 * touched (the contract: a session ending is not a leave).
 */
export function expirePersistentSessions(aedes: Aedes, options: SessionExpiryOptions): SessionExpiry {
  const { expiryMs, scheduler, persistence } = options;
  const timers = new Map<string, unknown>();
  const cancel = (clientId: string) => {
    const timer = timers.get(clientId);
    if (timer === undefined) return;
    scheduler.clear(timer);
    timers.delete(clientId);
  };
  if (expiryMs > 0) {
    aedes.on('client', (client: Client) => cancel(client.id));
    aedes.on('clientDisconnect', (client: Client) => {
      if (client.clean || !client.id) return;
      cancel(client.id);
      timers.set(
        client.id,
        scheduler.set(() => {
          timers.delete(client.id);
          if (options.connected(client.id)) return;
          const session = { id: client.id };
          void persistence.cleanSubscriptions(session).catch(() => {});
          void persistence.cleanIncoming?.(session).catch(() => {});
          options.clearQueue(client.id);
          options.onExpired(client.id);
        }, expiryMs),
      );
    });
  }
  return {
    get pending() {
      return timers.size;
    },
  };
}

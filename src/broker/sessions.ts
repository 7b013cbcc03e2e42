import type { Client } from 'aedes';
import type { OfflineReason, UserData } from '../core/events.js';
import { sentDisconnect } from './aedes-internals.js';

/** What the adapter learned about a connection at CONNECT. */
export interface Identity {
  userId: string;
  clientId: string;
  data?: UserData;
  epoch?: string;
  /** True when the user id was proven (authentication configured), not just claimed. */
  authenticated?: boolean;
  /**
   * No username and a broker-made client id (src/broker/observers.ts): it may watch and query, but is
   * no user: no presence, no membership, no retained record. `userId` is then its client id, for the
   * watch policy and the logs only.
   */
  observer?: boolean;
}

/**
 * The adapter's view of live MQTT connections: identity per aedes client object, the current
 * client object per client id (to tell a takeover from a loss), and how each connection ended.
 */
export class Sessions {
  private readonly identities = new WeakMap<Client, Identity>();
  private readonly live = new Map<string, Client>();
  private readonly endings = new WeakMap<Client, OfflineReason>();
  private readonly generatedIds = new WeakSet<Client>();

  /** The client sent an empty client id and the broker made one up. */
  markGeneratedId(client: Client): void {
    this.generatedIds.add(client);
  }

  hasGeneratedId(client: Client): boolean {
    return this.generatedIds.has(client);
  }

  remember(client: Client, identity: Identity): void {
    this.identities.set(client, identity);
  }

  identity(client: Client | null | undefined): Identity | undefined {
    return client ? this.identities.get(client) : undefined;
  }

  /** The connection is registered with the broker (aedes' `client` event). */
  attach(client: Client): void {
    this.live.set(client.id, client);
  }

  /** The connection left the broker; a newer client holding the same id stays registered. */
  detach(client: Client): void {
    if (this.live.get(client.id) === client) this.live.delete(client.id);
  }

  current(clientId: string): Client | undefined {
    return this.live.get(clientId);
  }

  all(): Client[] {
    return [...this.live.values()];
  }

  get size(): number {
    return this.live.size;
  }

  /** Records why a connection is about to end, when the broker knows better than the socket. */
  markEnding(client: Client, reason: OfflineReason): void {
    if (!this.endings.has(client)) this.endings.set(client, reason);
  }

  endingOf(client: Client): OfflineReason {
    const marked = this.endings.get(client);
    if (marked) return marked;
    return sentDisconnect(client) ? 'disconnect' : 'connection_lost';
  }
}

interface IncomingPacket {
  messageId?: number;
  payload?: unknown;
  [field: string]: unknown;
}

/** The inbound QoS 2 half of aedes' persistence interface (aedes 1.x: promises). */
export interface IncomingPersistence {
  incomingStorePacket(client: { id: string }, packet: IncomingPacket): Promise<void>;
  incomingDelPacket(client: { id: string }, packet: IncomingPacket): Promise<void>;
  cleanIncoming?(client: { id: string }): Promise<void>;
}

/** What the guard holds, for tests and metrics. */
export interface InflightQoS2 {
  /** Unreleased QoS 2 messages held for a client id. */
  held(clientId: string): number;
  /** Client ids holding any. */
  readonly clients: number;
}

export interface InflightOptions {
  /** Unreleased inbound QoS 2 messages one client id may hold, across its connections. */
  maxPerClient: number;
  /** A client went over the cap: its connection is about to be closed. */
  onRefused: (clientId: string) => void;
}

const EMPTY = Buffer.alloc(0);

/**
 * Bounds what inbound QoS 2 messages awaiting PUBREL hold, on aedes' persistence hooks (so any
 * persistence: memory or Redis).
 *
 * aedes publishes a QoS 2 message when it arrives and keeps the packet until PUBREL only to recognise
 * a resent duplicate by its packet identifier, so:
 * - the stored copy carries no payload (nothing reads it), which removes the bytes: 400 unreleased
 *   PUBLISHes of 512 KiB held up to 221 MB, and with a persistent session kept them after the client left;
 * - each client id may hold at most `maxPerClient` unreleased messages, counted across connections (a
 *   persistent session's store outlives its connection, and aedes' own window, `maxInflightInbound`,
 *   starts again at every connection). The store refuses the next one; aedes then closes the
 *   connection, the only refusal MQTT 3.1.1 has for it (like Mosquitto past its inflight limit).
 * A clean session's store is emptied when it ends (aedes `cleanIncoming`), and so is the count.
 */
export function boundInflightQoS2(persistence: IncomingPersistence, options: InflightOptions): InflightQoS2 {
  const { maxPerClient, onRefused } = options;
  const held = new Map<string, Set<number | undefined>>();
  const store = persistence.incomingStorePacket.bind(persistence);
  const del = persistence.incomingDelPacket.bind(persistence);
  const clean = persistence.cleanIncoming?.bind(persistence);

  persistence.incomingStorePacket = async (client, packet) => {
    let ids = held.get(client.id);
    if (!ids) held.set(client.id, (ids = new Set()));
    if (!ids.has(packet.messageId) && ids.size >= maxPerClient) {
      onRefused(client.id);
      throw new Error(`too many unreleased QoS 2 messages: ${ids.size} awaiting PUBREL (limit ${maxPerClient})`);
    }
    ids.add(packet.messageId);
    await store(client, { ...packet, payload: EMPTY });
  };
  persistence.incomingDelPacket = async (client, packet) => {
    await del(client, packet);
    const ids = held.get(client.id);
    ids?.delete(packet.messageId);
    if (ids?.size === 0) held.delete(client.id);
  };
  if (clean) {
    persistence.cleanIncoming = async (client) => {
      held.delete(client.id);
      await clean(client);
    };
  }
  return {
    held: (clientId) => held.get(clientId)?.size ?? 0,
    get clients() {
      return held.size;
    },
  };
}

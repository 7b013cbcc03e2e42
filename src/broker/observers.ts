import type { Aedes } from 'aedes';
import type { Sessions } from './sessions.js';

/**
 * Connections that sent an empty client id in CONNECT, so that the broker made one up (aedes:
 * `aedes_<uuid>`), as `mosquitto_sub` does by default. Without a username (and without authentication)
 * such a connection has no identity: it is an observer, no user (PRODUCT.md, Identity). aedes gives the
 * CONNECT packet to `preConnect` only, so that hook records it; an earlier hook keeps running after it.
 */
export function recordGeneratedIds(aedes: Aedes, sessions: Sessions): void {
  const previous = aedes.preConnect.bind(aedes);
  aedes.preConnect = (client, packet, done) => {
    if (packet.clientId === '') sessions.markGeneratedId(client);
    previous(client, packet, done);
  };
}

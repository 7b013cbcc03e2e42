import { isUtf8 } from 'node:buffer';
import type { Client } from 'aedes';
import { refusal, type Refusal } from '../log/refusals.js';
import { watchStrings, type PacketParser } from './aedes-internals.js';
import type { BrokerContext } from './context.js';

/** Strings of a CONNECT that were ill-formed (or held U+0000), as mqtt-packet decoded them, per client. */
const badConnectStrings = new WeakMap<Client, Set<string>>();

/**
 * Why a CONNECT's client id, username or will topic must be refused, if one of them was not
 * well-formed UTF-8 or contained U+0000 on the wire [MQTT-1.5.3-1, -2]: the CONNACK code of that field.
 */
export function connectStringRefusal(client: Client, username: string | undefined): (Refusal & { returnCode: number }) | undefined {
  const bad = badConnectStrings.get(client);
  if (!bad) return undefined;
  const why = 'ill-formed UTF-8 or U+0000 (MQTT-1.5.3-1, -2)';
  if (bad.has(client.id)) return { ...refusal('invalid_client_id', `invalid client id: ${why}`), returnCode: 2 };
  if (username !== undefined && bad.has(username)) return { ...refusal('invalid_username', `invalid username: ${why}`), returnCode: 4 };
  return { ...refusal('invalid_will_topic', `invalid will topic: ${why}`), returnCode: 5 };
}

/**
 * Checks every UTF-8 string of every packet as bytes, before mqtt-packet decodes it (it would turn
 * ill-formed bytes into U+FFFD, so distinct byte strings became one user id or topic).
 * - CONNECT: the bad string is noted, and `authenticate` refuses the connection with the CONNACK code
 *   of its field (the contract: an invalid id is refused with CONNACK 2 or 4), then aedes closes it.
 * - Any other packet (PUBLISH topic, SUBSCRIBE and UNSUBSCRIBE filters): the connection is closed, as
 *   MQTT 3.1.1 requires, when aedes comes to that packet (so in order: packets before it, the CONNECT
 *   included, are answered), logged and counted. aedes closes the connection on a packet type it does
 *   not know, which is what the packet is turned into; nothing of it is applied.
 */
export function guardStrings(parser: PacketParser, client: Client, ctx: BrokerContext): void {
  watchStrings(parser, (bytes, decoded, packet) => {
    const problem = bytes && (!isUtf8(bytes) ? 'ill-formed UTF-8' : bytes.includes(0) ? 'U+0000' : undefined);
    if (!problem || decoded === null) return;
    if (packet.cmd === 'connect') {
      let bad = badConnectStrings.get(client);
      if (!bad) badConnectStrings.set(client, (bad = new Set()));
      bad.add(decoded);
      return;
    }
    malformed.set(packet, `${problem} in a ${packet.cmd ?? 'packet'} string (MQTT-1.5.3)`);
  });
  parser.prependListener('packet', (packet) => {
    const reason = malformed.get(packet);
    if (!reason) return;
    ctx.log.warn('connection closed', { clientId: client.id ?? undefined, code: 'malformed_string', reason });
    ctx.refused('connection', 'malformed_string');
    packet.cmd = 'malformed';
  });
}

/** Packets (other than CONNECT) with a bad string, and what was wrong. */
const malformed = new WeakMap<object, string>();

import type { Aedes } from 'aedes';
import { checkPacketLength, onNewConnection } from './aedes-internals.js';
import type { BrokerContext } from './context.js';
import { guardStrings } from './string-guard.js';
import { noteUnsubscribe } from './unsubscribe-intents.js';

/** How many user-presence filters the SUBSCRIBE packet carrying a subscription had. */
const userFiltersInPacket = new WeakMap<object, number>();

export function userFiltersAlongside(subscription: object): number {
  return userFiltersInPacket.get(subscription) ?? 0;
}

/**
 * Per-connection guards that need the raw packet stream, which aedes' hooks do not show:
 * - packet size: a packet whose declared length is over `maxPacketBytes` closes the connection as soon
 *   as its header is read, before its body is buffered (mqtt.js-packet accepts up to 256 MiB otherwise);
 * - SUBSCRIBE batches: aedes authorizes subscriptions one by one, so the count of user filters in the
 *   whole packet is noted on each subscription for `authorizeSubscribe` to read.
 * - UTF-8 strings: checked as bytes (string-guard.ts).
 * - UNSUBSCRIBE (cluster mode): noted as it arrives, so its leave outlives a connection that closes
 *   before aedes has finished it (unsubscribe-intents.ts).
 * All reach into mqtt-packet's parser through aedes-internals.ts, whose start-up check fails loudly if it changed.
 */
export function guardPackets(aedes: Aedes, ctx: BrokerContext): void {
  const userFilter = `${ctx.topics.prefix}/user/`;
  const maxBytes = ctx.security.limits.maxPacketBytes;
  onNewConnection(aedes, (client, parser) => {
    checkPacketLength(parser, (length) => {
      if (length <= maxBytes) return undefined;
      const reason = `packet too large: ${length} bytes (limit ${maxBytes})`;
      ctx.log.warn('connection closed', { clientId: client.id ?? undefined, code: 'packet_too_large', reason });
      ctx.refused('connection', 'packet_too_large');
      return new Error(reason);
    });
    guardStrings(parser, client, ctx);
    parser.prependListener('packet', (packet) => {
      if (packet.cmd === 'unsubscribe' && packet.unsubscriptions && ctx.lateUnsubscribes) noteUnsubscribe(ctx, client, packet.unsubscriptions);
      if (packet.cmd !== 'subscribe' || !packet.subscriptions) return;
      const count = packet.subscriptions.filter((s) => s.topic.startsWith(userFilter)).length;
      if (count > 0) for (const s of packet.subscriptions) userFiltersInPacket.set(s, count);
    });
  });
}

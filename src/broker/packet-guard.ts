import type { Aedes, Client } from 'aedes';
import type { BrokerContext } from './context.js';
import { guardStrings, type StringParser } from './string-guard.js';

interface RawParser {
  packet: { length: number };
  _parseLength(): boolean;
  _emitError(error: Error): void;
  prependListener(event: 'packet', fn: (packet: { cmd: string; subscriptions?: { topic: string }[] }) => void): void;
}

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
 * All reach into mqtt-packet's parser; test/auth-limits.test.ts fails loudly if its shape changes.
 */
export function guardPackets(aedes: Aedes, ctx: BrokerContext): void {
  const handle = aedes.handle;
  const userFilter = `${ctx.topics.prefix}/user/`;
  const maxBytes = ctx.security.limits.maxPacketBytes;
  aedes.handle = (conn, req) => {
    const client = handle(conn, req);
    const parser = (client as Client & { _parser?: RawParser })._parser;
    if (!parser || typeof parser._parseLength !== 'function') {
      ctx.log.error('packet guard cannot attach: mqtt-packet parser changed shape');
      return client;
    }
    const parseLength = parser._parseLength;
    parser._parseLength = function guardedParseLength(this: RawParser) {
      const done = parseLength.call(this);
      if (done && this.packet.length > maxBytes) {
        const reason = `packet too large: ${this.packet.length} bytes (limit ${maxBytes})`;
        ctx.log.warn('connection closed', { clientId: client.id ?? undefined, code: 'packet_too_large', reason });
        ctx.refused('connection', 'packet_too_large');
        this._emitError(new Error(reason));
        return false;
      }
      return done;
    };
    guardStrings(parser as unknown as StringParser, client, ctx);
    parser.prependListener('packet', (packet) => {
      if (packet.cmd !== 'subscribe' || !packet.subscriptions) return;
      const count = packet.subscriptions.filter((s) => s.topic.startsWith(userFilter)).length;
      if (count > 0) for (const s of packet.subscriptions) userFiltersInPacket.set(s, count);
    });
    return client;
  };
}

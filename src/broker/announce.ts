import type { Client } from 'aedes';
import { updateRefusal, type ConnAnnouncement } from '../announcements.js';
import type { UpdateResult } from '../core/events.js';
import type { Refusal } from '../log/refusals.js';
import type { BrokerContext } from './context.js';
import type { Identity } from './sessions.js';

/**
 * A client's announcement on its own `presence/conn/<userId>/<clientId>` topic, in serve mode, where
 * the connection itself is the truth: a will or an announced offline changes nothing (the disconnect
 * that follows does); a birth refreshes the connection's epoch and data (new data is an `update`); an
 * update changes the user's data (PRODUCT.md "Data updates"). Updates, and births after the first
 * that carry data, count against the connection's update rate limit, so births cannot get round it.
 *
 * Returns why it is refused now; refusals the tracker decides later (stale epoch, not connected) go
 * to `late`. A refused birth still counts as the connection's birth, without its data.
 */
export function consumeConnAnnouncement(
  ctx: BrokerContext,
  client: Client,
  identity: Identity,
  announcement: ConnAnnouncement,
  late: (refusal: Refusal) => void,
): Refusal | undefined {
  if (client.closed || announcement.action === 'offline') return undefined;
  const { userId } = identity;
  const key = `${userId}/${client.id}`;
  if (announcement.action === 'online') {
    // The birth after CONNECT is the protocol; a later one that carries data may be an update.
    const rebirth = born.has(client);
    born.add(client);
    const limited = rebirth && announcement.data !== undefined && !ctx.updates.take(key);
    void ctx.tracker.connectionUp({
      userId,
      connectionId: client.id,
      data: limited ? undefined : announcement.data,
      epoch: announcement.epoch,
    });
    return limited ? updateRefusal('rate_limited', `birth data ignored, ${ctx.updates.detail}`) : undefined;
  }
  if (ctx.security.trustedData(userId) !== undefined) {
    return updateRefusal('trusted_data', "the server's user list provides this user's data");
  }
  if (!ctx.updates.take(key)) return updateRefusal('rate_limited', ctx.updates.detail);
  void ctx.tracker
    .update({ userId, connectionId: client.id, data: announcement.data!, epoch: announcement.epoch })
    .then((result: UpdateResult) => {
      if (!result.ok) late(updateRefusal(result.code, result.detail));
    });
  return undefined;
}

/** Connections that have announced a birth. */
const born = new WeakSet<Client>();

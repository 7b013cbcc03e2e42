import type { Client, PublishPacket } from 'aedes';
import type { BrokerContext } from './context.js';

/**
 * Group topics (`group/<g>` and below) under a restrictive watch policy (anything but the built-in
 * `open`): a user reads and publishes them only for groups it may join (contract, "Topics published by
 * the product"). Joining is checked on SUBSCRIBE (subscribe.ts); a wildcard (`#`, `group/+/#`, `+/G/x`)
 * is granted and every delivery is filtered here, live, retained, queued and wills alike, as presence
 * topics are in publish.ts `forward`.
 */

/** True when `client` may read or publish `topic`; false only for a group topic of a group it may not join. */
export function mayUseGroupTopic(ctx: BrokerContext, client: Client | null | undefined, topic: string): boolean {
  if (ctx.security.watchesAll) return true;
  const groupId = ctx.topics.membershipOf(topic);
  if (groupId === undefined) return true;
  const identity = ctx.sessions.identity(client);
  return identity !== undefined && ctx.security.mayJoin(identity.userId, groupId);
}

/**
 * Where a refused group publish goes: aedes has no way to drop a publish it has authorized short of
 * closing the connection, so the packet is re-addressed under `$SYS`, which no wildcard matches
 * ([MQTT-4.7.2-1]), the offline queues skip and `forward` drops for every subscriber (it carries the
 * publisher's `clientId`). Not retained, so nothing is stored.
 */
export const REFUSED_TOPIC = '$SYS/presence-bridge/refused';

export function dropPublish(client: Client | null, packet: PublishPacket): void {
  (packet as PublishPacket & { clientId?: string }).clientId ??= client?.id ?? '';
  packet.topic = REFUSED_TOPIC;
  packet.retain = false;
}

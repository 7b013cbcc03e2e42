import type { AedesPublishPacket, Client, PublishPacket } from 'aedes';
import { parseConnAnnouncement, parseMemberAnnouncement } from '../announcements.js';
import { consumeConnAnnouncement } from './announce.js';
import type { BrokerContext } from './context.js';
import { dropPublish, mayUseGroupTopic } from './group-access.js';
import { RefusalLog } from '../log/refusal-log.js';
import { refusal, type Refusal } from '../log/refusals.js';
import { joinRefused, viewerOf } from './subscribe.js';

export type QueryHandler = (client: Client, payload: Buffer) => void;

/**
 * PUBLISH (and wills): nothing a client sends lands under the product's prefix as-is. A client's own
 * announcement and query topics are consumed here; anything else there, or under `$SYS`, is dropped
 * the way Mosquitto drops an ACL-denied publish: acknowledged, logged, never stored or delivered.
 * Dropping rather than disconnecting keeps one bad publish from costing the user an offline/online.
 * `forward` below is the second half: client-originated packets under the prefix never reach anyone.
 */
export function authorizePublish(ctx: BrokerContext, onQuery: () => QueryHandler | undefined) {
  const refusals = new RefusalLog(ctx.log);
  return (client: Client | null, packet: PublishPacket, done: (error?: Error | null) => void): void => {
    const { topic } = packet;
    const reserved = topic.startsWith('$SYS');
    if (!reserved && !ctx.topics.isUnderPrefix(topic)) {
      if (!mayUseGroupTopic(ctx, client, topic)) {
        const refused = refusal('group_not_allowed_for_this_user', `group not allowed for this user: ${ctx.security.policy.name} policy`);
        refusals.warn('publish refused', refused, { clientId: client?.id, topic });
        ctx.refused('publish', refused.code);
        dropPublish(client, packet);
      }
      return done(null);
    }
    packet.retain = false;
    // Marked as a client's before aedes queues it for persistent sessions (it sets `clientId` only
    // later, when it emits), so the offline queues can leave out what `forward` will drop anyway.
    if (client) (packet as PublishPacket & { clientId?: string }).clientId ??= client.id;
    const refuse = (refused: Refusal) => {
      refusals.warn('publish refused', refused, { clientId: client?.id, topic });
      ctx.refused('publish', refused.code);
    };
    const refused = reserved ? refusal('reserved_topic', 'reserved topic') : consume(ctx, client, packet, onQuery(), refuse);
    if (refused) refuse(refused);
    done(null);
  };
}

/** Acts on an allowed product topic; returns why the publish is refused otherwise. */
function consume(
  ctx: BrokerContext,
  client: Client | null,
  packet: PublishPacket,
  onQuery: QueryHandler | undefined,
  late: (refused: Refusal) => void,
): Refusal | undefined {
  const identity = ctx.sessions.identity(client);
  if (!client || !identity) return refusal('no_live_client', 'no live client');
  const target = ctx.topics.parse(packet.topic);
  if (identity.observer && target.kind !== 'query') {
    return refusal('observer_has_no_presence', 'an observer (no username, no client id of its own) has no presence to announce');
  }
  const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
  switch (target.kind) {
    case 'conn': {
      if (target.userId !== identity.userId || target.clientId !== client.id) return spoofing('not its own announcement topic');
      const announcement = parseConnAnnouncement(payload, ctx.maxDataBytes);
      if (!announcement.ok) return refusal('invalid_announcement', `invalid announcement: ${announcement.refusal.detail}`);
      return consumeConnAnnouncement(ctx, client, identity, announcement.value, late);
    }
    case 'member': {
      if (target.userId !== identity.userId) return spoofing('not its own membership topic');
      if (client.closed) return undefined;
      const announcement = parseMemberAnnouncement(payload);
      if (!announcement.ok) return refusal('invalid_membership', `invalid membership: ${announcement.refusal.detail}`);
      if (announcement.value.action === 'join') {
        const refused = ctx.security.refuseJoin(identity.userId, target.groupId, client);
        if (refused) return joinRefused(refused);
        void ctx.tracker.join(identity.userId, target.groupId).then(ctx.security.reservations.confirm(client, identity.userId, target.groupId));
      } else void ctx.tracker.leave(identity.userId, target.groupId);
      return undefined;
    }
    case 'query': {
      if (target.clientId !== client.id) return spoofing('not its own query topic');
      if (!onQuery) return refusal('queries_are_not_served_here', 'queries are not served here');
      if (!client.closed) onQuery(client, payload);
      return undefined;
    }
    default:
      return spoofing('clients may not publish presence');
  }
}

function spoofing(detail: string): Refusal {
  return refusal('spoofing', `spoofing: ${detail}`);
}

/**
 * Delivery filter. Packets a client published under the prefix (they carry `clientId`) have been
 * consumed or refused above and go nowhere; replies go only to the client that asked; user and group
 * events (live or retained) only to viewers the watch policy allows, whatever filter matched them;
 * group topics under a restrictive policy only to users who may join the group (group-access.ts).
 */
export function forward(ctx: BrokerContext) {
  const replies = ctx.topics.reply('');
  return (client: Client, packet: AedesPublishPacket): AedesPublishPacket | null => {
    const { topic } = packet;
    if (topic.startsWith('$SYS')) return (packet as AedesPublishPacket & { clientId?: string }).clientId ? null : packet;
    if (!ctx.topics.isUnderPrefix(topic)) return mayUseGroupTopic(ctx, client, topic) ? packet : null;
    if ((packet as AedesPublishPacket & { clientId?: string }).clientId) return null;
    // Runs once per delivery per subscriber: with every watcher allowed everything, parse only what can
    // be a reply (a full parse of every presence event for every watcher was ~3% of the broker's CPU in
    // the group storm benchmark).
    if (ctx.security.watchesAll && !topic.startsWith(replies)) return packet;
    const target = ctx.topics.parse(topic);
    if (target.kind === 'reply' && target.clientId !== client.id) return null;
    if ((target.kind === 'user' || target.kind === 'group') && !ctx.security.watchesAll) {
      const viewer = viewerOf(ctx, client);
      if (!viewer) return null;
      const allowed = target.kind === 'user' ? ctx.security.mayWatchUser(viewer, target.userId) : ctx.security.mayWatchGroup(viewer, target.groupId);
      if (!allowed) return null;
    }
    return packet;
  };
}

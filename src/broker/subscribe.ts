import type { Client, Subscription } from 'aedes';
import type { Viewer } from '../auth/policy.js';
import { subscribedFilters } from './aedes-internals.js';
import type { BrokerContext } from './context.js';
import { RefusalLog } from '../log/refusal-log.js';
import { refusal, type Refusal } from '../log/refusals.js';
import { userFiltersAlongside } from './packet-guard.js';
import { markRefused } from './subscription-store-guard.js';
import { leaveGroups, settleUnsubscribe } from './unsubscribe-intents.js';

/** Topic kinds under the prefix that only the product itself reads. */
const PRIVATE_KINDS = new Set(['conn', 'member', 'query']);

/**
 * SUBSCRIBE authorization. Denied filters are granted 0x80, logged and counted; nothing else happens.
 * - A filter that can only ever match private topics (announcements, queries, others' replies).
 * - Watching: an exact `presence/user/X` or `presence/group/G` the policy refuses. Wildcards
 *   (`presence/user/+`, `presence/#`, `#`) are granted; `forward` then filters every delivery by the
 *   same policy, so a wildcard never shows more than the exact topics would.
 * - A SUBSCRIBE with more user-presence filters than `maxUserIdsPerSubscribe`: all of them are denied,
 *   so a batched watch is answered whole or not at all.
 * - Joining (`group/G` or below): the user's allowed groups and the per-user and per-group caps;
 *   while memberships cannot be stored (a cluster node without Redis), every join.
 */
export function authorizeSubscribe(ctx: BrokerContext) {
  const refusals = new RefusalLog(ctx.log);
  return (client: Client, sub: Subscription, done: (error: Error | null, sub?: Subscription | null) => void): void => {
    const denied = deniedBecause(ctx, client, sub);
    if (denied) {
      refusals.warn('subscription refused', denied, { clientId: client.id, userId: ctx.sessions.identity(client)?.userId, topic: sub.topic });
      ctx.refused('subscribe', denied.code);
      // aedes stores a persistent session's whole SUBSCRIBE once any filter is granted: not this one.
      markRefused(sub);
      return done(null, null);
    }
    done(null, sub);
  };
}

/** A refused join (SUBSCRIBE to `group/G`, or a membership announcement): the code is the join check's. */
export function joinRefused(refused: Refusal): Refusal {
  return refusal(refused.code, `join refused: ${refused.detail}`);
}

function deniedBecause(ctx: BrokerContext, client: Client, sub: Subscription): Refusal | undefined {
  const filter = sub.topic;
  const viewer = viewerOf(ctx, client);
  // $SYS announces every client id that connects and every filter subscribed: presence by another
  // name, so only a policy that lets everyone watch everyone leaves it open.
  if (filter.startsWith('$SYS') && !ctx.security.watchesAll) return refusal('not_allowed_to_watch_sys', `not allowed to watch $SYS: ${ctx.security.policy.name} policy`);
  if (!ctx.topics.isUnderPrefix(filter)) {
    const groupId = ctx.topics.membershipOf(filter);
    if (groupId === undefined) return undefined;
    // A client closing mid-SUBSCRIBE: its connection's end may already have abandoned its reservations.
    if (!viewer || client.closed) return refusal('no_live_client', 'no live client');
    const unavailable = ctx.membershipsUnavailable?.();
    if (unavailable) return unavailable;
    const refused = ctx.security.refuseJoin(viewer.userId, groupId, client);
    return refused && joinRefused(refused);
  }
  const levels = filter.slice(ctx.topics.prefix.length + 1).split('/');
  const [kind, id] = levels;
  if (kind && PRIVATE_KINDS.has(kind)) return refusal('private_topic', 'private topic');
  if (kind === 'reply' && id !== client.id) return refusal('not_its_own_reply_topic', 'not its own reply topic');
  if (kind === 'user') {
    const batch = userFiltersAlongside(sub);
    const limit = ctx.security.limits.maxUserIdsPerSubscribe;
    if (batch > limit) return refusal('too_many_user_ids', `too many user ids: ${batch} in one SUBSCRIBE (limit ${limit})`);
  }
  if (levels.length !== 2 || id === undefined || id === '+' || id === '#') return undefined;
  if (!viewer) return refusal('no_live_client', 'no live client');
  const policy = ctx.security.policy.name;
  if (kind === 'user' && !ctx.security.mayWatchUser(viewer, id)) return refusal('not_allowed_to_watch_this_user', `not allowed to watch this user: ${policy} policy`);
  if (kind === 'group' && !ctx.security.mayWatchGroup(viewer, id)) return refusal('not_allowed_to_watch_this_group', `not allowed to watch this group: ${policy} policy`);
  return undefined;
}

/** The policy's view of a connection. */
export function viewerOf(ctx: BrokerContext, client: Client | null | undefined): Viewer | undefined {
  const identity = ctx.sessions.identity(client);
  return identity && { userId: identity.userId, clientId: identity.clientId, anonymous: !identity.authenticated };
}

/**
 * SUBSCRIBE accepted by aedes (it emits `subscribe` only then): subscribing to `group/G` or below
 * makes the user a member of G.
 */
export function onSubscribe(ctx: BrokerContext) {
  return (subscriptions: Subscription[], client: Client): void => {
    const identity = ctx.sessions.identity(client);
    if (!identity || identity.observer) return;
    for (const { topic, qos } of subscriptions) {
      // aedes reports denied filters here too, granted 0x80: those are no membership.
      if ((qos as number) === 128) continue;
      const groupId = ctx.topics.membershipOf(topic);
      if (!groupId) continue;
      // aedes accepted the packet: the reserved join happened; it counts as reserved until applied
      const release = ctx.security.reservations.confirm(client, identity.userId, groupId);
      void ctx.tracker.join(identity.userId, groupId).then(release);
    }
  };
}

/**
 * UNSUBSCRIBE: an explicit one is a leave, once the connection holds nothing else in that group.
 * aedes also reports every subscription of a clean session as unsubscribed after the connection has
 * closed; that is the session ending, not a leave, and membership outlives it. An explicit UNSUBSCRIBE
 * that aedes finishes only after its connection closed still leaves (unsubscribe-intents.ts).
 */
export function onUnsubscribe(ctx: BrokerContext) {
  return (topics: string[], client: Client): void => {
    const owed = settleUnsubscribe(topics);
    if (client.closed) return leaveGroups(ctx, client, owed);
    const identity = ctx.sessions.identity(client);
    if (!identity || identity.observer) return;
    const remaining = subscribedFilters(client);
    for (const topic of topics) {
      const groupId = ctx.topics.membershipOf(topic);
      if (!groupId) continue;
      if (remaining.some((filter) => ctx.topics.membershipOf(filter) === groupId)) continue;
      void ctx.tracker.leave(identity.userId, groupId);
    }
  };
}

/** Groups a restored persistent session is subscribed to (aedes restores them without `subscribe`). */
export function restoredMemberships(ctx: BrokerContext, client: Client): string[] {
  const filters = subscribedFilters(client);
  const groups = new Set<string>();
  for (const filter of filters) {
    const groupId = ctx.topics.membershipOf(filter);
    if (groupId) groups.add(groupId);
  }
  return [...groups];
}

import type { Client, Subscription } from 'aedes';
import type { BrokerContext } from './context.js';

/** Topic kinds under the prefix that only the product itself reads. */
const PRIVATE_KINDS = new Set(['conn', 'member', 'query']);

/**
 * SUBSCRIBE authorization: a filter that can only ever match private topics (someone's announcements,
 * queries or replies) is denied with 0x80. Broad wildcards (`#`, `presence/#`) stay allowed, since
 * `forward` keeps private packets from them.
 */
export function authorizeSubscribe(ctx: BrokerContext) {
  return (client: Client, sub: Subscription, done: (error: Error | null, sub?: Subscription | null) => void): void => {
    const reason = deniedBecause(ctx, client, sub.topic);
    if (reason) {
      ctx.log.warn('subscription refused', { clientId: client.id, topic: sub.topic, reason });
      ctx.refused('subscribe', reason);
      return done(null, null);
    }
    done(null, sub);
  };
}

function deniedBecause(ctx: BrokerContext, client: Client, filter: string): string | undefined {
  if (!ctx.topics.isUnderPrefix(filter)) return undefined;
  const levels = filter.slice(ctx.topics.prefix.length + 1).split('/');
  const [kind, id] = levels;
  if (kind && PRIVATE_KINDS.has(kind)) return 'private topic';
  if (kind === 'reply' && id !== client.id) return 'not its own reply topic';
  return undefined;
}

/** SUBSCRIBE granted: subscribing to `group/G` or below makes the user a member of G. */
export function onSubscribe(ctx: BrokerContext) {
  return (subscriptions: Subscription[], client: Client): void => {
    const identity = ctx.sessions.identity(client);
    if (!identity) return;
    for (const { topic } of subscriptions) {
      const groupId = ctx.topics.membershipOf(topic);
      if (groupId) void ctx.tracker.join(identity.userId, groupId);
    }
  };
}

/**
 * UNSUBSCRIBE: an explicit one is a leave, once the connection holds nothing else in that group.
 * aedes also reports every subscription of a clean session as unsubscribed after the connection has
 * closed; that is the session ending, not a leave, and membership outlives it.
 */
export function onUnsubscribe(ctx: BrokerContext) {
  return (topics: string[], client: Client): void => {
    if (client.closed) return;
    const identity = ctx.sessions.identity(client);
    if (!identity) return;
    const remaining = Object.keys((client as Client & { subscriptions?: Record<string, unknown> }).subscriptions ?? {});
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
  const filters = Object.keys((client as Client & { subscriptions?: Record<string, unknown> }).subscriptions ?? {});
  const groups = new Set<string>();
  for (const filter of filters) {
    const groupId = ctx.topics.membershipOf(filter);
    if (groupId) groups.add(groupId);
  }
  return [...groups];
}

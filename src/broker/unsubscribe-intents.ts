import type { Aedes, Client } from 'aedes';
import { subscribedFilters } from './aedes-internals.js';
import type { BrokerContext } from './context.js';

/**
 * Explicit UNSUBSCRIBEs, from their packet to their leave. MQTT 3.1.1 cannot refuse an UNSUBSCRIBE, so
 * the leave it asks for must not be lost. aedes reports one (its `unsubscribe` event) only once the
 * persistence and the emitter have done their part; a connection that closes meanwhile (seconds, when a
 * cluster node waits for Redis) is then reported like the end of a clean session, which is no leave, or,
 * for a persistent session, not reported at all.
 *
 * So each UNSUBSCRIBE is noted when its packet arrives, with the groups it leaves: those of its filters
 * that no other filter of the connection keeps at that moment (the rule of `onUnsubscribe`). It is
 * settled once: by aedes' report, or, when the connection ends first, at its end, provided aedes
 * accepted the packet (a persistent session's removal reached the persistence; a clean session's is
 * always reported). Cluster mode only (`BrokerContext.lateUnsubscribes`).
 */
interface Intent {
  groups: string[];
  /** aedes validated the packet and started removing the filters. */
  accepted: boolean;
  settled: boolean;
}

/** By the packet's `unsubscriptions` array, which aedes hands on as is (event and persistence). */
const byTopics = new WeakMap<object, Intent>();
const byClient = new WeakMap<Client, Intent[]>();

/** An UNSUBSCRIBE packet arrived (called from the packet stream, before aedes handles it). */
export function noteUnsubscribe(ctx: BrokerContext, client: Client, topics: string[]): void {
  const unsubscribed = new Set(topics);
  const kept = new Set<string>();
  for (const filter of subscribedFilters(client)) {
    const groupId = unsubscribed.has(filter) ? undefined : ctx.topics.membershipOf(filter);
    if (groupId) kept.add(groupId);
  }
  const groups = new Set<string>();
  for (const topic of topics) {
    const groupId = ctx.topics.membershipOf(topic);
    if (groupId && !kept.has(groupId)) groups.add(groupId);
  }
  if (groups.size === 0) return;
  const intent: Intent = { groups: [...groups], accepted: false, settled: false };
  byTopics.set(topics, intent);
  const pending = (byClient.get(client) ?? []).filter((i) => !i.settled);
  pending.push(intent);
  byClient.set(client, pending);
}

/**
 * aedes reported `topics` unsubscribed. Resolves to the groups an explicit UNSUBSCRIBE of a connection
 * that has closed meanwhile still owes (empty for the end of a session, or once settled); marks it settled.
 */
export function settleUnsubscribe(topics: string[]): string[] {
  const intent = byTopics.get(topics);
  if (!intent || intent.settled) return [];
  intent.settled = true;
  return intent.groups;
}

/**
 * Wires the two other ends: a persistent session's removal reaching the persistence marks its
 * UNSUBSCRIBE accepted, and a connection's end applies every accepted one aedes has not reported.
 */
export function settleUnsubscribesAtEnd(aedes: Aedes, persistence: { removeSubscriptions(client: Client, topics: string[]): Promise<void> }, ctx: BrokerContext): void {
  const remove = persistence.removeSubscriptions.bind(persistence);
  persistence.removeSubscriptions = (client, topics) => {
    const intent = byTopics.get(topics);
    if (intent) intent.accepted = true;
    return remove(client, topics);
  };
  aedes.on('clientDisconnect', (client) => {
    if (ctx.closing()) return;
    const owed = (byClient.get(client) ?? []).filter((i) => i.accepted && !i.settled);
    byClient.delete(client);
    for (const intent of owed) {
      intent.settled = true;
      leaveGroups(ctx, client, intent.groups);
    }
  });
}

/** The user of `client` leaves `groups` (observers hold no memberships). */
export function leaveGroups(ctx: BrokerContext, client: Client, groups: string[]): void {
  const identity = ctx.sessions.identity(client);
  if (!identity || identity.observer) return;
  for (const groupId of groups) void ctx.tracker.leave(identity.userId, groupId);
}

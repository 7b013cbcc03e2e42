interface StoredSubscription {
  topic: string;
  [field: string]: unknown;
}

interface SubscriptionPersistence {
  addSubscriptions(client: unknown, subscriptions: StoredSubscription[]): Promise<void>;
}

/** Subscriptions `authorizeSubscribe` refused (granted 0x80), by identity: aedes hands the same objects on. */
const refused = new WeakSet<object>();

/** Notes a subscription the broker refused, so it is never stored with the session. */
export function markRefused(subscription: object): void {
  refused.add(subscription);
}

/**
 * aedes persists a persistent session's SUBSCRIBE as the whole packet's filter list once any one filter
 * is granted, including a filter it refused as too deep. On every later reconnect it restores that list,
 * refuses the deep filter again, and closes the connection without a CONNACK: the client id is locked
 * out for good (found by the protocol fuzz). Only filters aedes can restore are stored, and none that
 * the broker refused (`markRefused`): restored later, when it might be granted, it would be a
 * membership nobody asked for then.
 */
export function guardSubscriptionStore(persistence: SubscriptionPersistence, maxTopicLevels: number): void {
  const add = persistence.addSubscriptions.bind(persistence);
  persistence.addSubscriptions = (client, subscriptions) =>
    add(client, subscriptions.filter((sub) => levels(sub.topic) <= maxTopicLevels && !refused.has(sub)));
}

function levels(topic: string): number {
  let count = 1;
  for (let i = 0; i < topic.length; i++) if (topic.charCodeAt(i) === 47) count++;
  return count;
}

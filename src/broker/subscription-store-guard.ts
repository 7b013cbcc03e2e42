interface StoredSubscription {
  topic: string;
  [field: string]: unknown;
}

interface SubscriptionPersistence {
  addSubscriptions(client: unknown, subscriptions: StoredSubscription[]): Promise<void>;
}

/**
 * aedes persists a persistent session's SUBSCRIBE as the whole packet's filter list once any one filter
 * is granted, including a filter it refused as too deep. On every later reconnect it restores that list,
 * refuses the deep filter again, and closes the connection without a CONNACK: the client id is locked
 * out for good (found by the protocol fuzz). Only filters aedes can restore are stored.
 */
export function guardSubscriptionStore(persistence: SubscriptionPersistence, maxTopicLevels: number): void {
  const add = persistence.addSubscriptions.bind(persistence);
  persistence.addSubscriptions = (client, subscriptions) =>
    add(client, subscriptions.filter((sub) => levels(sub.topic) <= maxTopicLevels));
}

function levels(topic: string): number {
  let count = 1;
  for (let i = 0; i < topic.length; i++) if (topic.charCodeAt(i) === 47) count++;
  return count;
}

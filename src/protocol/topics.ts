import { isValidId } from './ids.js';

/**
 * The product's topic layout in one place, for the broker adapter, the bridge and the client alike.
 * Prefixes are configurable; every id is exactly one topic level.
 */
export interface TopicLayout {
  /** Root of everything the product publishes and accepts (default `presence`). */
  prefix: string;
  /** Subscribing to `<groupPrefix>/<groupId>` or below makes a member (default `group`). */
  groupPrefix: string;
}

export const DEFAULT_LAYOUT: TopicLayout = { prefix: 'presence', groupPrefix: 'group' };

export type ProductTopic =
  | { kind: 'conn'; userId: string; clientId: string }
  | { kind: 'member'; groupId: string; userId: string }
  | { kind: 'query'; clientId: string }
  | { kind: 'reply'; clientId: string }
  | { kind: 'user'; userId: string }
  | { kind: 'group'; groupId: string }
  | { kind: 'bridge'; bridgeId: string }
  | { kind: 'other' };

export class Topics {
  readonly prefix: string;
  readonly groupPrefix: string;
  private readonly prefixLevels: number;
  private readonly groupPrefixLevels: number;

  constructor(layout: TopicLayout = DEFAULT_LAYOUT) {
    this.prefix = layout.prefix;
    this.groupPrefix = layout.groupPrefix;
    this.prefixLevels = this.prefix.split('/').length;
    this.groupPrefixLevels = this.groupPrefix.split('/').length;
  }

  user(userId: string): string {
    return `${this.prefix}/user/${userId}`;
  }
  group(groupId: string): string {
    return `${this.prefix}/group/${groupId}`;
  }
  conn(userId: string, clientId: string): string {
    return `${this.prefix}/conn/${userId}/${clientId}`;
  }
  member(groupId: string, userId: string): string {
    return `${this.prefix}/member/${groupId}/${userId}`;
  }
  query(clientId: string): string {
    return `${this.prefix}/query/${clientId}`;
  }
  reply(clientId: string): string {
    return `${this.prefix}/reply/${clientId}`;
  }
  bridge(bridgeId: string): string {
    return `${this.prefix}/bridge/${bridgeId}`;
  }
  groupTopic(groupId: string): string {
    return `${this.groupPrefix}/${groupId}`;
  }

  /** True when `topic` (a filter or a name) lies under the product's prefix, wildcards included. */
  isUnderPrefix(topic: string): boolean {
    return topic === this.prefix || topic.startsWith(this.prefix + '/');
  }

  /** Classifies a concrete topic name under the prefix; ids that are not valid make it `other`. */
  parse(topic: string): ProductTopic {
    if (!topic.startsWith(this.prefix + '/')) return { kind: 'other' };
    const levels = topic.split('/').slice(this.prefixLevels);
    const [kind, a, b] = levels;
    const valid = (...ids: (string | undefined)[]) => ids.every((id) => isValidId(id));
    if (levels.length === 3 && valid(a, b)) {
      if (kind === 'conn') return { kind: 'conn', userId: a!, clientId: b! };
      if (kind === 'member') return { kind: 'member', groupId: a!, userId: b! };
    }
    if (levels.length === 2 && valid(a)) {
      switch (kind) {
        case 'query':
          return { kind: 'query', clientId: a! };
        case 'reply':
          return { kind: 'reply', clientId: a! };
        case 'user':
          return { kind: 'user', userId: a! };
        case 'group':
          return { kind: 'group', groupId: a! };
        case 'bridge':
          return { kind: 'bridge', bridgeId: a! };
      }
    }
    return { kind: 'other' };
  }

  /**
   * The group a subscription filter makes its subscriber a member of: `group/G` or anything below
   * `group/G/`. A wildcard (or anything invalid) at the group-id level is no membership.
   */
  membershipOf(filter: string): string | undefined {
    if (!filter.startsWith(this.groupPrefix + '/')) return undefined;
    const groupId = filter.split('/')[this.groupPrefixLevels];
    return isValidId(groupId) ? groupId : undefined;
  }
}

/**
 * Every Redis key and channel of one cluster, under `<cluster>:` (docs/cluster.md, "What lives where").
 * The commit script in redis-store.ts builds the same names from `prefix`; keep the two in step.
 */
export class ClusterKeys {
  readonly prefix: string;

  constructor(readonly cluster: string) {
    this.prefix = `${cluster}:`;
  }

  /** Hash: `r` the user's record as JSON, `v` its version (compare-and-set). */
  user(userId: string): string {
    return `${this.prefix}u:${userId}`;
  }

  groupMembers(groupId: string): string {
    return `${this.prefix}g:${groupId}:m`;
  }

  groupOnline(groupId: string): string {
    return `${this.prefix}g:${groupId}:o`;
  }

  /** Hash: client id -> user id, for every connection the node holds. */
  nodeConnections(node: string): string {
    return `${this.prefix}n:${node}:c`;
  }

  /** Set: users whose held-back offline (grace window) the node's timer holds. */
  nodeHeld(node: string): string {
    return `${this.prefix}n:${node}:h`;
  }

  /** Hash: owner, persistent flag and holding connections per node of one client id (redis-client-ids.ts). */
  clientId(clientId: string): string {
    return `${this.prefix}cid:${clientId}`;
  }

  /** Set: client ids the node's connections hold. */
  nodeClientIds(node: string): string {
    return `${this.prefix}n:${node}:ids`;
  }

  /** Liveness record of a node, with a TTL of --node-timeout, renewed by the node. */
  nodeAlive(node: string): string {
    return `${this.prefix}n:${node}:alive`;
  }

  /** Lock held by the one node that declares `node` down. */
  nodeReaper(node: string): string {
    return `${this.prefix}n:${node}:reaper`;
  }

  /** Set of nodes that hold or held connections. */
  nodes(): string {
    return `${this.prefix}nodes`;
  }

  /** Hash of cluster-wide counters (users, onlineUsers, connections, groups, memberships). */
  stats(): string {
    return `${this.prefix}stats`;
  }

  /** Hash: retained `presence/user/<id>` topic -> seq of the stored event (never goes back). */
  retainedSeq(): string {
    return `${this.prefix}retained-seq`;
  }

  /** ioredis key prefix for aedes-persistence-redis' own keys (retained, sessions, queues, wills). */
  aedes(): string {
    return `${this.prefix}aedes:`;
  }

  /** Redis pub/sub channel prefix for mqemitter-redis (channels are not per database). */
  channel(): string {
    return `${this.prefix}mq:`;
  }
}

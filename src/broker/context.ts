import type { ClientIdOwnership } from '../auth/client-ids.js';
import type { Security } from '../auth/security.js';
import type { UpdateLimiter } from '../auth/update-limit.js';
import type { PresenceTracker } from '../core/tracker.js';
import type { Logger } from '../log/logger.js';
import type { Refusal, RefusalCode } from '../log/refusals.js';
import type { Topics } from '../topics.js';
import type { Sessions } from './sessions.js';

/** What every broker hook needs; one object so each hook file stays a plain function. */
export interface BrokerContext {
  tracker: PresenceTracker;
  sessions: Sessions;
  topics: Topics;
  log: Logger;
  maxDataBytes: number;
  /** Authentication, watch policy and limits. */
  security: Security;
  /** Who owns each client id, checked only with authentication on (src/auth/client-ids.ts). */
  clientIds: ClientIdOwnership;
  /** Data updates per connection per minute (announce.ts). */
  updates: UpdateLimiter;
  /** Counts a refusal by kind and code (metrics hang off this; the code is the `reason` label). */
  refused: (what: 'connection' | 'publish' | 'subscribe', code: RefusalCode) => void;
  /** True once shutdown has begun: lifecycle signals are then the shutdown's business. */
  closing: () => boolean;
  /**
   * Why membership changes cannot be stored now (cluster: Redis unreachable), or undefined when they
   * can. A SUBSCRIBE to a group is then refused (0x80) rather than half applied.
   */
  membershipsUnavailable?: () => Refusal | undefined;
  /**
   * Apply an UNSUBSCRIBE that aedes finishes only after its connection closed (unsubscribe-intents.ts).
   * On in a cluster, where aedes waits for Redis (seconds while it is away); off in memory mode, where
   * only a close in the same read as the UNSUBSCRIBE can do it and the rule stays as it was.
   */
  lateUnsubscribes?: boolean;
  /**
   * Bring a connection up when aedes registers it (its `client` event, before CONNACK is written)
   * rather than at `clientReady` (after CONNACK and a read of the session's queue). On in a cluster: a
   * client holding CONNACK from node B may at once end its other device on node A, and A must already
   * find B's connection in Redis, or the user gets an offline/online pair (docs/cluster.md).
   */
  upAtRegister?: boolean;
}

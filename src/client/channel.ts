import { invalidIdReason } from '../protocol/ids.js';
import type { ProductTopic, Topics } from '../protocol/topics.js';
import { ERROR_CODE, failure, type PresenceClientError } from './errors.js';
import type { Transport } from './transport.js';
import type { ConnectionStatus, GroupPresenceEvent, UserPresenceEvent } from './types.js';

/** What the client tells applications about, by event name. */
export interface ClientEvents {
  USER_PRESENCE: UserPresenceEvent;
  GROUP_PRESENCE: GroupPresenceEvent;
  SNAPSHOT: UserPresenceEvent;
  CONNECTION: { status: ConnectionStatus };
  ERROR: { code: number; content: string };
}

export type Emit = <K extends keyof ClientEvents>(event: K, payload: ClientEvents[K]) => void;

/** What a channel may use of the client: identity, topic layout, the live connection, the handlers. */
export interface ChannelContext {
  readonly topics: Topics;
  readonly userId: string;
  readonly clientId: string;
  /**
   * Runs a transport operation on the current connection: fails with NOT_CONNECTED when there is
   * none (the client is reconnecting or has disconnected) and with TIMEOUT past the call timeout.
   */
  io<T>(what: string, operation: (transport: Transport) => Promise<T>): Promise<T>;
  emit: Emit;
  /** Reports a background failure (no call to hand it to) as an ERROR event. */
  report(error: unknown): void;
}

/**
 * One slice of the client's protocol: the subscriptions it owns and the product topics it reads.
 * The client calls `resume` after every CONNACK (after the birth), so a reconnect restores each
 * slice, offers every message under the product's prefix to `route`, and tells `connectionLost`
 * when the link goes (or the client disconnects). The query API's request/reply is one such channel
 * (query-channel.ts): it subscribes to `presence/reply/<clientId>` in `resume` and takes `reply` topics.
 */
export interface Channel {
  resume(): Promise<void>;
  route(target: ProductTopic, payload: Uint8Array, retained: boolean): boolean;
  connectionLost?(): void;
}

/** One call's ids, checked and de-duplicated; a call names at most this many. */
export const MAX_IDS_PER_CALL = 1000;

export function checkIds(value: unknown, field: string): string[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw failure(ERROR_CODE.INVALID_ARGUMENT, `${field} must be a non-empty array of ids`);
  }
  if (value.length > MAX_IDS_PER_CALL) {
    throw failure(ERROR_CODE.INVALID_ARGUMENT, `${field} names ${value.length} ids; at most ${MAX_IDS_PER_CALL} per call`);
  }
  value.forEach((id: unknown, index) => {
    const problem = invalidIdReason(id);
    if (problem) throw failure(ERROR_CODE.INVALID_ARGUMENT, `${field}[${index}] ${JSON.stringify(id)} is not a valid id: ${problem}`);
  });
  return [...new Set(value as string[])];
}

/** One id, checked (`groupHereNow`'s groupId, `whereNow`'s userId). */
export function checkId(value: unknown, field: string): string {
  const problem = invalidIdReason(value);
  if (problem) throw failure(ERROR_CODE.INVALID_ARGUMENT, `${field} ${JSON.stringify(value)} is not a valid id: ${problem}`);
  return value as string;
}

/** Fails the call when the server refused some of the filters (SUBACK 0x80). */
export function refusedFilters(filters: string[], granted: number[]): PresenceClientError | undefined {
  const refused = filters.filter((_, i) => granted[i] === undefined || granted[i]! >= 128);
  if (refused.length === 0) return undefined;
  return failure(ERROR_CODE.NOT_AUTHORIZED, `the server refused the subscription to ${refused.join(', ')}`);
}

/**
 * Published on `presence/group/<groupId>` instead of per-member group events while the group is large:
 * each user's net change over one interval. Made by src/feed/intervals.ts, never by
 * the core; read by the client (src/client/interval-expansion.ts).
 */
export interface IntervalEvent {
  groupId: string;
  action: 'interval';
  /** Exact after the last change the interval covers. */
  groupOnlineCount: number;
  time: number;
  joined: string[];
  left: string[];
  online: string[];
  offline: string[];
  /** Each listed user's seq as of the interval's end (the seq of its last group event). */
  seqs: Record<string, number>;
  /** Present (true) when the lists were cut at the id limit: re-read the roster with groupHereNow. */
  truncated?: true;
}

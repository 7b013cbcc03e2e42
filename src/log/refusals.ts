/**
 * Refusals as data. Every refusal the server makes (a CONNECT, a PUBLISH, a SUBSCRIBE, a query, an
 * announcement the bridge drops, webhook events given up on) is a `Refusal`: a `code` from the closed
 * list below and a `detail` in words. The code is what the refusal metrics use as their `reason`
 * label and what the refusal log prints as its `code` field; the detail is for people (logs, the
 * client) and free to change. Nothing turns a detail back into a code.
 *
 * The codes are snake_case and stable: a new refusal adds a code here (and to docs/security.md
 * "Refusal codes"); renaming one renames a metric label.
 */
export const REFUSAL_CODES = [
  // CONNECT refused (a CONNACK return code is sent beside) or a connection closed for what it sent:
  // presence_refused_connections_total
  'connect_rate_exceeded',
  'too_many_failed_logins_for_this_account',
  'too_many_failed_logins_for_this_address',
  'invalid_client_id',
  'invalid_username',
  'invalid_will_topic',
  'invalid_user_id',
  'bad_user_name_or_password',
  'not_authorized',
  'will_refused',
  'too_many_connections',
  'client_id_belongs_to_another_user',
  'internal_error',
  'malformed_string',
  'packet_too_large',
  'too_many_unreleased_qos_2_messages',
  // PUBLISH refused (acknowledged, dropped) and announcements the bridge drops: presence_refused_publishes_total
  'reserved_topic',
  'no_live_client',
  'observer_has_no_presence',
  'spoofing',
  'invalid_announcement',
  'invalid_membership',
  'queries_are_not_served_here',
  'group_not_allowed_for_this_user',
  'too_many_groups',
  'group_is_full',
  'update_not_connected',
  'update_stale_epoch',
  'update_trusted_data',
  'update_rate_limited',
  'update_invalid_data',
  'invalid_topic',
  'too_large',
  'not_json',
  'stale_epoch',
  // SUBSCRIBE filters refused (granted 0x80): presence_refused_subscribes_total (and the join codes above)
  'not_allowed_to_watch_sys',
  'private_topic',
  'not_its_own_reply_topic',
  'too_many_user_ids',
  'not_allowed_to_watch_this_user',
  'not_allowed_to_watch_this_group',
  // A join while a cluster node cannot store memberships (Redis unreachable)
  'server_unavailable',
  // Queries (logged; the reply itself carries the HTTP-style number of the wire contract)
  'too_many_queries',
  'not_allowed_to_watch',
  // Messages dropped for a persistent session over its queue cap (logged)
  'message_queue_full',
  // Webhook events given up on: presence_webhook_events_dropped_total
  'queue_full',
  'expired',
  'shutdown',
] as const;

/** One of `REFUSAL_CODES`. */
export type RefusalCode = (typeof REFUSAL_CODES)[number];

/** Why something was refused: `code` for machines (metric label, log field), `detail` for people. */
export interface Refusal<C extends RefusalCode = RefusalCode> {
  code: C;
  detail: string;
}

/**
 * The one result shape of a function that can refuse: the value, or the refusal. A check that has no
 * value to give back returns `Refusal | undefined` instead (undefined: allowed).
 */
export type Result<T, R extends Refusal = Refusal> = { ok: true; value: T } | { ok: false; refusal: R };

export function refusal<C extends RefusalCode>(code: C, detail: string): Refusal<C> {
  return { code, detail };
}

/** The failed `Result`. */
export function refused<C extends RefusalCode>(code: C, detail: string): { ok: false; refusal: Refusal<C> } {
  return { ok: false, refusal: { code, detail } };
}

const known: ReadonlySet<string> = new Set(REFUSAL_CODES);

/** Whether `code` is in the closed set (for values that crossed a boundary typed as string). */
export function isRefusalCode(code: string): code is RefusalCode {
  return known.has(code);
}

import { isLoopback } from '../config/loopback.js';
import type { Security } from '../auth/security.js';
import { apiClosedBecause } from './api.js';

/** Who may read /v1, as the `listening` log line says it: `api: 'bearer token' | 'open' | 'closed'`. */
export interface ApiAccess {
  api: 'bearer token' | 'open' | 'closed';
  /** Set when closed: every /v1 request is refused with 403 and this reason (also logged as a warning). */
  closedBecause?: string;
  /** Set when open by --api-open where it would otherwise be closed: logged as a warning. */
  openWarning?: string;
}

/**
 * The one rule for /v1 in both commands (serve and attach), like Mosquitto's for MQTT: on loopback it
 * may answer without a token; bound beyond loopback it needs `--api-token`, or an explicit
 * `--api-open`. In serve mode it also stays closed without a token while clients must authenticate or
 * a restrictive watch policy is in force (see `apiClosedBecause`), unless `--api-open` says otherwise.
 * Attach mode passes no `security`: its broker's ACL does not guard our HTTP port.
 */
export function apiAccess(
  config: { host: string; apiToken?: string; apiOpen?: boolean },
  security?: Pick<Security, 'authRequired' | 'watchesAll' | 'policy'>,
): ApiAccess {
  if (config.apiToken !== undefined) return { api: 'bearer token' };
  const closedBecause =
    (security && apiClosedBecause(undefined, security)) ??
    (isLoopback(config.host)
      ? undefined
      : `the HTTP API (/v1) is closed: it listens on ${config.host}, beyond loopback, and no apiToken is configured; give backends a token with --api-token, or pass --api-open to answer anyone who can reach the port`);
  if (closedBecause === undefined) return { api: 'open' };
  if (config.apiOpen) return { api: 'open', openWarning: `HTTP API OPEN (--api-open): /v1 answers anyone who can reach ${config.host} without a token` };
  return { api: 'closed', closedBecause };
}

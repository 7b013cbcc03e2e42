import { ERROR_CODE, failure } from './errors.js';
import type { Callbacks, UserData } from './types.js';

/** `updatePresence({data})`: the user's new data, shown to everyone watching it. */
export interface UpdatePresenceCall extends Callbacks {
  data: UserData;
}

/** The server's default limit on `data` (its `--max-data-bytes`); checked here too, to fail early. */
export const DEFAULT_MAX_DATA_BYTES = 1024;

/**
 * Checks new data the way the server will (a JSON object of at most `maxBytes` bytes of JSON) and
 * returns a plain JSON copy. Hand-written: the browser client compiles no schemas (no eval).
 */
export function checkUpdateData(data: unknown, maxBytes = DEFAULT_MAX_DATA_BYTES): UserData {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw failure(ERROR_CODE.INVALID_ARGUMENT, 'data must be a JSON object');
  }
  let json: string;
  try {
    json = JSON.stringify(data);
  } catch (error) {
    throw failure(ERROR_CODE.INVALID_ARGUMENT, `data must be serializable as JSON: ${(error as Error).message}`);
  }
  const size = new TextEncoder().encode(json).length;
  if (size > maxBytes) throw failure(ERROR_CODE.INVALID_ARGUMENT, `data is ${size} bytes of JSON, over the ${maxBytes}-byte limit`);
  return JSON.parse(json) as UserData;
}

/**
 * The update announcement (PRODUCT.md "Data updates"), published RETAINED QoS 1 on the connection's
 * own announcement topic: in attach mode it replaces the birth there, in serve mode it is consumed.
 */
export function updateAnnouncement(data: UserData, epoch: string): string {
  return JSON.stringify({ action: 'update', data, epoch });
}

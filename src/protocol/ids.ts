/**
 * Identifier rules shared by users, connections and groups. Ids end up as single MQTT topic levels,
 * so anything that would change the topic's shape (`/`, wildcards, NUL, `$` system prefix) is out.
 */
export const MAX_ID_LENGTH = 128;

/** Returns why `id` is not a valid presence id, or undefined when it is valid. */
export function invalidIdReason(id: unknown): string | undefined {
  if (typeof id !== 'string') return 'not a string';
  if (id.length === 0) return 'empty';
  // Length is counted in characters (code points), as the contract says "1 to 128 characters".
  let count = 0;
  for (const ch of id) {
    count++;
    if (ch === '/' || ch === '+' || ch === '#' || ch === '\u0000') return `contains '${ch === '\u0000' ? 'NUL' : ch}'`;
    // `ch` is a whole code point: a pair (emoji, CJK extensions) has length 2 and is fine; only an
    // unpaired half, which has no UTF-8 encoding, is refused.
    if (ch.length === 1 && ch >= '\uD800' && ch <= '\uDFFF') return 'contains a lone surrogate (not valid UTF-8)';
  }
  if (count > MAX_ID_LENGTH) return `longer than ${MAX_ID_LENGTH} characters`;
  if (id.startsWith('$')) return "starts with '$'";
  return undefined;
}

export function isValidId(id: unknown): id is string {
  return invalidIdReason(id) === undefined;
}

// The id rules are part of the wire contract (src/protocol/), which the browser client imports too.
export { MAX_ID_LENGTH, invalidIdReason, isValidId } from '../protocol/ids.js';

import { refusal, type Refusal } from '../log/refusals.js';

/**
 * A retained message under `conn/` or `member/` whose topic does not name two valid ids: dropped
 * (code `invalid_topic`), as the announcement refusals of src/announcements.ts are (`too_large`,
 * `not_json`, `invalid_announcement`).
 */
export const NOT_AN_ANNOUNCEMENT_TOPIC: Refusal = refusal('invalid_topic', 'not an announcement topic: needs two valid ids');

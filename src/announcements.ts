import type { JSONSchemaType } from 'ajv';
import type { UpdateRefusalCode, UserData } from './core/events.js';
import { refusal, refused, type Refusal, type Result } from './log/refusals.js';
import { compile, parseJsonPayload } from './schemas/ajv.js';

/**
 * The announcement protocol's payloads (births, wills, memberships), validated once for every edge.
 * `data` is an arbitrary JSON object, bounded by its serialized size.
 */
export interface ConnAnnouncement {
  /** `update` (PRODUCT.md "Data updates"): new `data` for a connected user; `data` is then required. */
  action: 'online' | 'offline' | 'update';
  data?: UserData;
  epoch?: string;
}

export interface MemberAnnouncement {
  action: 'join' | 'leave';
}

const connSchema: JSONSchemaType<ConnAnnouncement> = {
  type: 'object',
  properties: {
    action: { type: 'string', enum: ['online', 'offline', 'update'] },
    data: { type: 'object', nullable: true, required: [] },
    epoch: { type: 'string', nullable: true, minLength: 1, maxLength: 128 },
  },
  required: ['action'],
  if: { properties: { action: { const: 'update' } } },
  then: { properties: { data: { type: 'object' } }, required: ['data'] },
  additionalProperties: true,
} as JSONSchemaType<ConnAnnouncement>;

const memberSchema: JSONSchemaType<MemberAnnouncement> = {
  type: 'object',
  properties: { action: { type: 'string', enum: ['join', 'leave'] } },
  required: ['action'],
  additionalProperties: true,
};

const checkConn = compile(connSchema);
const checkMember = compile(memberSchema);

/** Room for the envelope around `data`; the data limit itself is checked separately and precisely. */
const ENVELOPE_BYTES = 512;

/**
 * Why an announcement payload is refused: `too_large` (the payload or its data over the limit),
 * `not_json`, or `invalid_announcement` (the schema); the detail names the part.
 */
export type AnnouncementRefusal = Refusal<'too_large' | 'not_json' | 'invalid_announcement'>;

export function parseConnAnnouncement(payload: Buffer | Uint8Array | string, maxDataBytes: number): Result<ConnAnnouncement, AnnouncementRefusal> {
  const parsed = parseJson(payload, maxDataBytes + ENVELOPE_BYTES);
  if (!parsed.ok) return parsed;
  const checked = checkConn(parsed.value);
  if (!checked.ok) return refused('invalid_announcement', checked.reason);
  const { data } = checked.value;
  if (data !== undefined) {
    if (Array.isArray(data)) return refused('invalid_announcement', '/data must be a JSON object');
    const size = Buffer.byteLength(JSON.stringify(data));
    if (size > maxDataBytes) return refused('too_large', `/data is ${size} bytes, over the ${maxDataBytes}-byte limit`);
  }
  return checked;
}

/** An empty payload (a cleared retained message) is a leave, as the protocol says. */
export function parseMemberAnnouncement(payload: Buffer | Uint8Array | string): Result<MemberAnnouncement, AnnouncementRefusal> {
  if (payload.length === 0) return { ok: true, value: { action: 'leave' } };
  const parsed = parseJson(payload, 1024);
  if (!parsed.ok) return parsed;
  const checked = checkMember(parsed.value);
  return checked.ok ? checked : refused('invalid_announcement', checked.reason);
}

/** JSON within a byte limit; the size is checked here so that each failure has its own code. */
function parseJson(payload: Buffer | Uint8Array | string, maxBytes: number): Result<unknown, AnnouncementRefusal> {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  if (size > maxBytes) return refused('too_large', `payload of ${size} bytes is over the ${maxBytes}-byte limit`);
  const parsed = parseJsonPayload(payload, maxBytes);
  return parsed.ok ? parsed : refused('not_json', parsed.reason);
}

/**
 * A refused data update (PRODUCT.md "Data updates") as a refusal: the code is `update_<code>`, the
 * detail `update <code>: <detail>`, in serve and attach mode alike.
 */
export function updateRefusal(code: UpdateRefusalCode, detail: string): Refusal {
  return refusal(`update_${code}`, `update ${code}: ${detail}`);
}

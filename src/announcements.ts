import type { JSONSchemaType } from 'ajv';
import type { UserData } from './core/events.js';
import { compile, parseJsonPayload, type Checked } from './schemas/ajv.js';

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

export function parseConnAnnouncement(payload: Buffer | Uint8Array | string, maxDataBytes: number): Checked<ConnAnnouncement> {
  const parsed = parseJsonPayload(payload, maxDataBytes + ENVELOPE_BYTES);
  if (!parsed.ok) return parsed;
  const checked = checkConn(parsed.value);
  if (!checked.ok) return checked;
  const { data } = checked.value;
  if (data !== undefined) {
    if (Array.isArray(data)) return { ok: false, reason: '/data must be a JSON object' };
    const size = Buffer.byteLength(JSON.stringify(data));
    if (size > maxDataBytes) return { ok: false, reason: `/data is ${size} bytes, over the ${maxDataBytes}-byte limit` };
  }
  return checked;
}

/** An empty payload (a cleared retained message) is a leave, as the protocol says. */
export function parseMemberAnnouncement(payload: Buffer | Uint8Array | string): Checked<MemberAnnouncement> {
  if (payload.length === 0) return { ok: true, value: { action: 'leave' } };
  const parsed = parseJsonPayload(payload, 1024);
  if (!parsed.ok) return parsed;
  return checkMember(parsed.value);
}

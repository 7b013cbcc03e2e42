import type { JSONSchemaType } from 'ajv';
import { compile } from '../schemas/ajv.js';

/**
 * Shapes of query requests. The schemas check structure and types (a failure is a 400); id rules and
 * the configurable limits (a 413) are checked by the service, so their messages say exactly what broke.
 */
export type RequestId = string | number;

export interface QueryEnvelope {
  id: RequestId;
  method: string;
  params?: Record<string, unknown>;
}

export interface HereNowParams {
  userIds: string[];
}

export interface GroupHereNowParams {
  groupId: string;
  limit?: number;
  offset?: number;
}

export interface GroupOnlineCountParams {
  groupIds: string[];
}

export interface WhereNowParams {
  userId: string;
}

/** Longest request id echoed back; a request id is the caller's correlation token, not data. */
export const MAX_REQUEST_ID_LENGTH = 128;

// The id is a string or an integer (as in JSON-RPC); ajv's typed schemas cannot express that union.
const envelopeSchema = {
  type: 'object',
  properties: {
    id: {
      anyOf: [
        { type: 'string', minLength: 1, maxLength: MAX_REQUEST_ID_LENGTH },
        { type: 'integer', minimum: Number.MIN_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER },
      ],
    },
    method: { type: 'string', minLength: 1, maxLength: 64 },
    params: { type: 'object', nullable: true, required: [] },
  },
  required: ['id', 'method'],
  additionalProperties: false,
} as unknown as JSONSchemaType<QueryEnvelope>;

const idList: JSONSchemaType<string[]> = { type: 'array', items: { type: 'string' } };
const offsetOrLimit = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, nullable: true } as const;

const hereNowSchema: JSONSchemaType<HereNowParams> = {
  type: 'object',
  properties: { userIds: idList },
  required: ['userIds'],
  additionalProperties: false,
};

const groupHereNowSchema: JSONSchemaType<GroupHereNowParams> = {
  type: 'object',
  properties: { groupId: { type: 'string' }, limit: offsetOrLimit, offset: offsetOrLimit },
  required: ['groupId'],
  additionalProperties: false,
};

const groupOnlineCountSchema: JSONSchemaType<GroupOnlineCountParams> = {
  type: 'object',
  properties: { groupIds: idList },
  required: ['groupIds'],
  additionalProperties: false,
};

const whereNowSchema: JSONSchemaType<WhereNowParams> = {
  type: 'object',
  properties: { userId: { type: 'string' } },
  required: ['userId'],
  additionalProperties: false,
};

export const checkEnvelope = compile(envelopeSchema);
export const checkHereNow = compile(hereNowSchema);
export const checkGroupHereNow = compile(groupHereNowSchema);
export const checkGroupOnlineCount = compile(groupOnlineCountSchema);
export const checkWhereNow = compile(whereNowSchema);

/** A request id taken from a payload that failed the envelope check, when it is itself acceptable. */
export function salvageRequestId(value: unknown): RequestId | null {
  if (typeof value !== 'object' || value === null || !('id' in value)) return null;
  const { id } = value as { id: unknown };
  if (typeof id === 'string' && id.length > 0 && [...id].length <= MAX_REQUEST_ID_LENGTH) return id;
  if (typeof id === 'number' && Number.isSafeInteger(id)) return id;
  return null;
}

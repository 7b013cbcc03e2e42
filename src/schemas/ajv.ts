import { Ajv, type ErrorObject, type JSONSchemaType, type ValidateFunction } from 'ajv';

const ajv = new Ajv({ allErrors: false, strict: true, useDefaults: true });

import type { Checked } from '../protocol/guards.js';

export type { Checked };

/** Compiles a schema once; the returned check explains a refusal in one line. */
export function compile<T>(schema: JSONSchemaType<T>): (value: unknown) => Checked<T> {
  const validate: ValidateFunction<T> = ajv.compile(schema);
  return (value) => (validate(value) ? { ok: true, value } : { ok: false, reason: describe(validate.errors) });
}

function describe(errors: ErrorObject[] | null | undefined): string {
  const first = errors?.[0];
  if (!first) return 'invalid';
  const where = first.instancePath || '(root)';
  const extra = first.keyword === 'additionalProperties' ? ` '${String(first.params.additionalProperty)}'` : '';
  return `${where} ${first.message ?? 'is invalid'}${extra}`;
}

/** Parses JSON from an MQTT payload with a byte limit, before any schema check. */
export function parseJsonPayload(payload: Buffer | Uint8Array | string, maxBytes: number): Checked<unknown> {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  if (size > maxBytes) return { ok: false, reason: `payload of ${size} bytes is over the ${maxBytes}-byte limit` };
  try {
    const text = typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8');
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, reason: 'payload is not valid JSON' };
  }
}

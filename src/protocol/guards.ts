/**
 * Small hand-written validators for the wire contract, for code that may not compile schemas: the
 * browser client runs under a strict Content-Security-Policy, where ajv's `new Function` is refused.
 * The server validates with ajv (src/schemas/ajv.ts); these guards check the same shapes the client's
 * old schemas did: required fields, types, enums, `minLength: 1` on ids, counts that are integers >= 0,
 * extra fields allowed.
 */

export type Checked<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Returns why `value` (found at `path`, a JSON pointer) is invalid, or undefined when it is valid. */
export type Guard = (value: unknown, path: string) => string | undefined;

const at = (path: string) => path || '(root)';

export const anything: Guard = () => undefined;

export const string: Guard = (v, p) => (typeof v === 'string' ? undefined : `${at(p)} must be string`);

/** A non-empty string (ids). */
export const nonEmpty: Guard = (v, p) => string(v, p) ?? (v === '' ? `${at(p)} must NOT have fewer than 1 characters` : undefined);

export const number: Guard = (v, p) => (typeof v === 'number' && Number.isFinite(v) ? undefined : `${at(p)} must be number`);

export const integer: Guard = (v, p) => (Number.isInteger(v) ? undefined : `${at(p)} must be integer`);

/** An integer >= 0 (counts, offsets, limits). */
export const count: Guard = (v, p) => integer(v, p) ?? ((v as number) < 0 ? `${at(p)} must be >= 0` : undefined);

export const boolean: Guard = (v, p) => (typeof v === 'boolean' ? undefined : `${at(p)} must be boolean`);

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Any JSON object (user data). */
export const object: Guard = (v, p) => (isObject(v) ? undefined : `${at(p)} must be object`);

/** One of these values (a schema's `enum` or `const`). */
export function oneOf(...allowed: readonly unknown[]): Guard {
  return (v, p) => (allowed.includes(v) ? undefined : `${at(p)} must be equal to one of the allowed values`);
}

/** The first guard's verdict when none accepts the value. */
export function either(...guards: Guard[]): Guard {
  return (v, p) => {
    let first: string | undefined;
    for (const guard of guards) {
      const why = guard(v, p);
      if (why === undefined) return undefined;
      first ??= why;
    }
    return first;
  };
}

export const nullValue: Guard = (v, p) => (v === null ? undefined : `${at(p)} must be null`);

/** Null or valid (a schema's `nullable`); list the field in `shape`'s optional fields to allow it absent. */
export function nullable(guard: Guard): Guard {
  return (v, p) => (v === null ? undefined : guard(v, p));
}

export function arrayOf(item: Guard, maxItems = Infinity): Guard {
  return (v, p) => {
    if (!Array.isArray(v)) return `${at(p)} must be array`;
    if (v.length > maxItems) return `${at(p)} must NOT have more than ${maxItems} items`;
    for (let i = 0; i < v.length; i++) {
      const why = item(v[i], `${p}/${i}`);
      if (why !== undefined) return why;
    }
    return undefined;
  };
}

/** An object whose every value passes `value` (a map of ids to counts or seqs). */
export function recordOf(value: Guard): Guard {
  return (v, p) => {
    if (!isObject(v)) return `${at(p)} must be object`;
    for (const [key, item] of Object.entries(v)) {
      const why = value(item, `${p}/${key}`);
      if (why !== undefined) return why;
    }
    return undefined;
  };
}

/**
 * An object with these fields; those named in `optionalFields` may be absent, every other is
 * required. Fields not listed are allowed (the contract may grow).
 */
export function shape(fields: Record<string, Guard>, optionalFields: readonly string[] = []): Guard {
  const entries = Object.entries(fields);
  return (v, p) => {
    if (!isObject(v)) return `${at(p)} must be object`;
    for (const [name, guard] of entries) {
      if (v[name] === undefined) {
        if (optionalFields.includes(name)) continue;
        return `${at(p)} must have required property '${name}'`;
      }
      const why = guard(v[name], `${p}/${name}`);
      if (why !== undefined) return why;
    }
    return undefined;
  };
}

/** A guard as a check returning the typed value or why it is invalid. */
export function checker<T>(guard: Guard): (value: unknown) => Checked<T> {
  return (value) => {
    const reason = guard(value, '');
    return reason === undefined ? { ok: true, value: value as T } : { ok: false, reason };
  };
}

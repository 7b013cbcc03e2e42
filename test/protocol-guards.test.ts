/**
 * The browser client's hand-written guards (src/protocol/guards.ts) accept exactly what the JSON
 * Schemas it used to compile with ajv accepted. The schemas below are those old schemas, kept here as
 * the reference; fast-check feeds both the same values: each field valid, of another JSON type, or
 * missing.
 */
import { Ajv } from 'ajv';
import fc from 'fast-check';
import t from 'tap';
import { parseInterval } from '../src/client/interval-expansion.js';
import { checkResult, parseGroupEvent, parseUserEvent } from '../src/client/payloads.js';
import { checkReply } from '../src/client/query-channel.js';

const ajv = new Ajv({ strict: false });
const str = { type: 'string', minLength: 1 };
const count = { type: 'integer', minimum: 0 };
const member = {
  type: 'object',
  properties: { id: str, online: { type: 'boolean' }, data: { type: 'object' }, seq: { type: 'number' }, lastSeen: { type: 'number', nullable: true } },
  required: ['id', 'online', 'data', 'seq'],
};
const ids = { type: 'array', items: str, maxItems: 100_000 };
const reason = { type: 'string', nullable: true };

const schemas = {
  user: {
    type: 'object',
    properties: { time: { type: 'number' }, action: { enum: ['online', 'offline', 'update'] }, id: str, data: { type: 'object' }, seq: { type: 'number' }, reason },
    required: ['time', 'action', 'id', 'data', 'seq'],
  },
  group: {
    type: 'object',
    properties: {
      groupId: str,
      groupOnlineCount: count,
      time: { type: 'number' },
      action: { enum: ['online', 'offline', 'join', 'leave', 'update'] },
      id: str,
      data: { type: 'object' },
      seq: { type: 'number' },
      reason,
    },
    required: ['groupId', 'groupOnlineCount', 'time', 'action', 'id', 'data', 'seq'],
  },
  hereNow: { type: 'object', properties: { users: { type: 'array', items: member } }, required: ['users'] },
  groupHereNow: {
    type: 'object',
    properties: { groupId: str, total: count, onlineCount: count, offset: count, limit: count, members: { type: 'array', items: member } },
    required: ['groupId', 'total', 'onlineCount', 'offset', 'limit', 'members'],
  },
  groupOnlineCount: { type: 'object', properties: { counts: { type: 'object', additionalProperties: count } }, required: ['counts'] },
  whereNow: { type: 'object', properties: { userId: str, groups: { type: 'array', items: { type: 'string' } } }, required: ['userId', 'groups'] },
  interval: {
    type: 'object',
    properties: {
      groupId: str,
      action: { const: 'interval' },
      groupOnlineCount: count,
      time: { type: 'number' },
      joined: ids,
      left: ids,
      online: ids,
      offline: ids,
      seqs: { type: 'object', additionalProperties: { type: 'number' }, nullable: true },
      truncated: { type: 'boolean', nullable: true },
    },
    required: ['groupId', 'action', 'groupOnlineCount', 'time', 'joined', 'left', 'online', 'offline'],
  },
  reply: {
    type: 'object',
    properties: {
      id: { anyOf: [{ type: 'string' }, { type: 'integer' }, { type: 'null' }] },
      result: {},
      error: { type: 'object', properties: { code: { type: 'integer' }, content: { type: 'string' } }, required: ['code', 'content'] },
    },
    required: ['id'],
  },
};

/** A field: usually a plausible value, sometimes any JSON value, sometimes missing. */
const field = (good: fc.Arbitrary<unknown>) => fc.oneof({ arbitrary: good, weight: 12 }, { arbitrary: fc.jsonValue({ maxDepth: 2 }), weight: 1 }, { arbitrary: fc.constant(undefined), weight: 1 });
const anInt = fc.oneof(fc.nat(), fc.integer({ min: -3, max: 3 }), fc.double({ noNaN: true, min: -2, max: 2 }));
const anId = fc.constantFrom('', 'g', 'bob', 'alice');
const someData = fc.oneof(fc.dictionary(fc.string({ maxLength: 3 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 }), fc.constant([]), fc.constant(null));
const anAction = fc.constantFrom('online', 'offline', 'join', 'leave', 'update', 'interval', 'other');
const aMember = fc.record({ id: field(anId), online: field(fc.boolean()), data: field(someData), seq: field(anInt), lastSeen: field(fc.oneof(anInt, fc.constant(null))) });
const idList = fc.array(anId, { maxLength: 3 });

/** Drops the undefined fields, as JSON would. */
const arbitraryObject = (fields: Record<string, fc.Arbitrary<unknown>>) =>
  fc.record(Object.fromEntries(Object.entries(fields).map(([k, a]) => [k, field(a)]))).map((o) => JSON.parse(JSON.stringify(o)) as Record<string, unknown>);

/**
 * The id in the event's topic: the payload's own when that is a string. (String() of an arbitrary JSON
 * object such as {"toString":0} throws, which failed the property for a reason of the harness's own.)
 */
const topicId = (id: unknown): string => (typeof id === 'string' ? id : '');
const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const event = { time: anInt, action: anAction, id: anId, data: someData, seq: anInt, reason: fc.oneof(fc.string({ maxLength: 2 }), fc.constant(null)) };

const cases: [keyof typeof schemas, fc.Arbitrary<Record<string, unknown>>, (value: Record<string, unknown>) => boolean][] = [
  ['user', arbitraryObject(event), (v) => parseUserEvent(encode(v), topicId(v.id)).ok],
  ['group', arbitraryObject({ ...event, groupId: anId, groupOnlineCount: anInt }), (v) => parseGroupEvent(encode(v), topicId(v.groupId)).ok],
  ['hereNow', arbitraryObject({ users: fc.array(aMember, { maxLength: 2 }) }), (v) => checkResult.hereNow(v).ok],
  [
    'groupHereNow',
    arbitraryObject({ groupId: anId, total: anInt, onlineCount: anInt, offset: anInt, limit: anInt, members: fc.array(aMember, { maxLength: 2 }) }),
    (v) => checkResult.groupHereNow(v).ok,
  ],
  ['groupOnlineCount', arbitraryObject({ counts: fc.dictionary(anId, anInt, { maxKeys: 2 }) }), (v) => checkResult.groupOnlineCount(v).ok],
  ['whereNow', arbitraryObject({ userId: anId, groups: fc.array(fc.oneof(anId, fc.nat()), { maxLength: 2 }) }), (v) => checkResult.whereNow(v).ok],
  [
    'interval',
    arbitraryObject({
      groupId: anId,
      action: fc.constantFrom('interval', 'join'),
      groupOnlineCount: anInt,
      time: anInt,
      joined: idList,
      left: idList,
      online: idList,
      offline: idList,
      seqs: fc.oneof(fc.dictionary(anId, anInt, { maxKeys: 2 }), fc.constant(null)),
      truncated: fc.oneof(fc.boolean(), fc.constant(null)),
    }),
    (v) => parseInterval(v, topicId(v.groupId)).ok,
  ],
  [
    'reply',
    arbitraryObject({
      id: fc.oneof(fc.string({ maxLength: 3 }), anInt, fc.constant(null)),
      result: fc.jsonValue({ maxDepth: 1 }),
      error: fc.oneof(fc.record({ code: anInt, content: fc.oneof(fc.string({ maxLength: 3 }), fc.nat()) }), fc.constant(null)),
    }),
    (v) => checkReply(v).ok,
  ],
];

for (const [name, arbitrary, guard] of cases) {
  t.test(`${name}: the guard accepts exactly what the schema accepted`, async (t) => {
    const schema = ajv.compile(schemas[name]);
    let accepted = 0;
    fc.assert(
      fc.property(arbitrary, (value) => {
        const expected = schema(value);
        if (expected) accepted++;
        return guard(value) === expected;
      }),
      { numRuns: 2000 },
    );
    t.ok(accepted > 0, `some values were valid (${accepted}), so both verdicts were exercised`);
  });
}

t.test('a refusal says where and why', async (t) => {
  t.same(checkResult.whereNow({ userId: 'a', groups: ['x', 3] }), { ok: false, reason: '/groups/1 must be string' });
  t.same(checkResult.hereNow({}), { ok: false, reason: "(root) must have required property 'users'" });
  t.same(checkResult.groupOnlineCount({ counts: { g: -1 } }), { ok: false, reason: '/counts/g must be >= 0' });
  t.same(parseUserEvent(encode([]), 'a'), { ok: false, reason: '(root) must be object' });
});

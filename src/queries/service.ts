import { errorBody } from '../protocol/errors.js';
import type { GroupHereNowResult, GroupOnlineCountResult, HereNowResult, Member, UserData, WhereNowResult } from '../protocol/payloads.js';
import { invalidIdReason } from '../protocol/ids.js';
import type { PresenceTracker } from '../core/tracker.js';
import { silentLogger, type Logger } from '../log/logger.js';
import type { Checked } from '../schemas/ajv.js';
import { jsonDepthOver } from './json-depth.js';
import { DEFAULT_QUERY_LIMITS, type QueryLimits } from './limits.js';
import {
  checkEnvelope,
  checkGroupHereNow,
  checkGroupOnlineCount,
  checkHereNow,
  checkWhereNow,
  salvageRequestId,
  type QueryEnvelope,
  type RequestId,
} from './schemas.js';

/** The read side of the presence model: all a query needs, whichever edge (serve, attach) owns it. */
export type PresenceReader = Pick<PresenceTracker, 'user' | 'users' | 'groupPage' | 'groupOnlineCounts' | 'settled'>;

export { DEFAULT_QUERY_LIMITS, queryLimits, type QueryLimits } from './limits.js';

/** Error codes, HTTP's where one fits, so both transports speak the same numbers. */
export const QueryCode = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  TOO_LARGE: 413,
  TOO_MANY_REQUESTS: 429,
  INTERNAL: 500,
} as const;

export interface QueryError {
  code: number;
  content: string;
}

export type { GroupHereNowResult, GroupOnlineCountResult, HereNowResult, Member, WhereNowResult } from '../protocol/payloads.js';

/**
 * A method's answer. `known` is false when the model knows nothing of what was asked about (a user it
 * has never seen or has forgotten, a group without members): MQTT answers with the empty result, HTTP
 * turns a single resource that is not known into a 404.
 */
export type Answer<T = unknown> = { ok: true; result: T; known: boolean } | { ok: false; error: QueryError };

export type ErrorReply = { id: RequestId | null; error: QueryError };
export type ReplyBody = { id: RequestId | null; result: unknown } | ErrorReply;

export type Transport = 'mqtt' | 'http';

/** Told about every answered query: method (or `invalid`/`unknown`), transport, code (0 = ok), seconds. */
export type QueryObserver = (method: string, via: Transport, code: number, seconds: number) => void;

/**
 * What the asker may watch, as the watch policy decides (src/auth/policy.ts). No scope: everything (the
 * built-in open policy, or the HTTP API's trusted backend). Asked only after pending presence changes
 * are applied, so a group the asker has just joined counts.
 *
 * A query shows no more than subscriptions would deliver, and refuses the way SUBSCRIBE does: a
 * question about one user or group the asker may not watch (whereNow, groupHereNow) is refused with
 * 403, as an exact topic is granted 0x80; in a batch (hereNow, groupOnlineCount) what it may not watch
 * is answered exactly as if the server knew nothing of it, as a wildcard is filtered. whereNow lists
 * only groups the asker may watch.
 */
export interface WatchScope {
  mayWatchUser(userId: string): boolean;
  mayWatchGroup(groupId: string): boolean;
}

type Method = (params: unknown, scope: WatchScope | undefined) => Promise<Answer>;

export const METHODS = ['hereNow', 'groupHereNow', 'groupOnlineCount', 'whereNow'] as const;
export type MethodName = (typeof METHODS)[number];

export interface QueryServiceOptions {
  limits?: Partial<QueryLimits>;
  observe?: QueryObserver;
  log?: Logger;
}

/**
 * The query API, independent of where presence comes from and of how the question arrived: params
 * are validated here, once, for MQTT request/reply and HTTP alike. Never throws: every failure is an
 * answer with a code.
 */
export class QueryService {
  readonly limits: QueryLimits;
  private readonly observe: QueryObserver;
  private readonly log: Logger;
  private readonly methods: Record<MethodName, Method>;

  constructor(
    private readonly reader: PresenceReader,
    options: QueryServiceOptions = {},
  ) {
    this.limits = { ...DEFAULT_QUERY_LIMITS, ...options.limits };
    this.observe = options.observe ?? (() => {});
    this.log = options.log ?? silentLogger;
    this.methods = {
      hereNow: (params, scope) => this.hereNow(params, scope),
      groupHereNow: (params, scope) => this.groupHereNow(params, scope),
      groupOnlineCount: (params, scope) => this.groupOnlineCount(params, scope),
      whereNow: (params, scope) => this.whereNow(params, scope),
    };
  }

  /** Runs one method with its params (anything; validated here) for an asker of `scope`, timing it. */
  async call(method: string, params: unknown, via: Transport, scope?: WatchScope): Promise<Answer> {
    const started = process.hrtime.bigint();
    const answer = await this.dispatch(method, params, scope);
    this.observed(isMethod(method) ? method : 'unknown', via, answer.ok ? 0 : answer.error.code, started);
    return answer;
  }

  /**
   * One MQTT-style request, `{"id","method","params"}`, to exactly one reply body. The id is echoed
   * whenever it could be read; a payload too large, not JSON, or without a usable id gets `id: null`.
   */
  async request(payload: Buffer | string, via: Transport = 'mqtt', scope?: WatchScope): Promise<ReplyBody> {
    const started = process.hrtime.bigint();
    const envelope = this.open(payload);
    if (!envelope.ok) {
      this.observed('invalid', via, envelope.reply.error.code, started);
      return envelope.reply;
    }
    const { id, method, params } = envelope.value;
    const answer = await this.dispatch(method, params ?? {}, scope);
    this.observed(isMethod(method) ? method : 'unknown', via, answer.ok ? 0 : answer.error.code, started);
    return answer.ok ? { id, result: answer.result } : { id, error: answer.error };
  }

  /**
   * The reply to a request refused before any work (the rate limit's 429): its id is echoed when the
   * envelope can be read within the size and depth bounds, and it is observed as method `limited`.
   */
  refuse(payload: Buffer | string, error: QueryError, via: Transport): ErrorReply {
    const started = process.hrtime.bigint();
    const envelope = this.open(payload);
    this.observed('limited', via, error.code, started);
    return { id: envelope.ok ? envelope.value.id : envelope.reply.id, error };
  }

  private open(payload: Buffer | string): { ok: true; value: QueryEnvelope } | { ok: false; reply: ErrorReply } {
    const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
    if (size > this.limits.maxRequestBytes) {
      return refusal(null, QueryCode.TOO_LARGE, `request of ${size} bytes is over the ${this.limits.maxRequestBytes}-byte limit`);
    }
    const text = typeof payload === 'string' ? payload : payload.toString('utf8');
    if (jsonDepthOver(text, this.limits.maxDepth)) return refusal(null, QueryCode.TOO_LARGE, `request is nested deeper than ${this.limits.maxDepth} levels`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return refusal(null, QueryCode.BAD_REQUEST, 'request is not valid JSON');
    }
    const envelope = checkEnvelope(parsed);
    if (!envelope.ok) return refusal(salvageRequestId(parsed), QueryCode.BAD_REQUEST, `invalid request: ${envelope.reason}`);
    return envelope;
  }

  private async dispatch(method: string, params: unknown, scope: WatchScope | undefined): Promise<Answer> {
    if (!isMethod(method)) return failure(QueryCode.NOT_FOUND, `unknown method '${method}'; known: ${METHODS.join(', ')}`);
    try {
      // Every change received before the question is applied first: a client that subscribes and then
      // asks sees its own membership, whatever the presence queue's backlog or the store's latency.
      await this.reader.settled();
      return await this.methods[method](params, scope);
    } catch (error) {
      this.log.error('query failed', { method, error });
      return failure(QueryCode.INTERNAL, 'internal error');
    }
  }

  private observed(method: string, via: Transport, code: number, started: bigint): void {
    this.observe(method, via, code, Number(process.hrtime.bigint() - started) / 1e9);
  }

  private async hereNow(params: unknown, scope: WatchScope | undefined): Promise<Answer<HereNowResult>> {
    const checked = this.idList(checkHereNow(params), 'userIds');
    if (!checked.ok) return checked;
    const { userIds } = checked.value;
    // Users the asker may not watch are not read at all: they are answered as unknown.
    const visible = scope ? userIds.filter((id) => scope.mayWatchUser(id)) : userIds;
    const states = await this.reader.users(visible);
    const known = new Map(visible.map((id, i) => [id, states[i]]));
    const users = userIds.map((id) => {
      const state = known.get(id);
      return state ? member(id, state) : { id, online: false, data: {}, seq: 0 };
    });
    return { ok: true, result: { users }, known: userIds.every((id) => known.get(id) !== undefined) };
  }

  private async groupHereNow(params: unknown, scope: WatchScope | undefined): Promise<Answer<GroupHereNowResult>> {
    const checked = checkGroupHereNow(params);
    if (!checked.ok) return failure(QueryCode.BAD_REQUEST, `invalid params: ${checked.reason}`);
    const { groupId, limit = this.limits.defaultPageSize, offset = 0 } = checked.value;
    const idProblem = invalidIdReason(groupId);
    if (idProblem) return failure(QueryCode.BAD_REQUEST, `invalid params: /groupId is not a valid id: ${idProblem}`);
    if (limit > this.limits.maxPageSize) {
      return failure(QueryCode.TOO_LARGE, `limit ${limit} is over the page size limit of ${this.limits.maxPageSize}`);
    }
    if (scope && !scope.mayWatchGroup(groupId)) return failure(QueryCode.FORBIDDEN, `not allowed to watch group '${groupId}'`);
    const page = await this.reader.groupPage(groupId, limit, offset);
    const members = page.members.map((state) => member(state.id, state));
    return {
      ok: true,
      result: { groupId, total: page.total, onlineCount: page.onlineCount, offset, limit, members },
      known: page.total > 0,
    };
  }

  private async groupOnlineCount(params: unknown, scope: WatchScope | undefined): Promise<Answer<GroupOnlineCountResult>> {
    const checked = this.idList(checkGroupOnlineCount(params), 'groupIds');
    if (!checked.ok) return checked;
    const { groupIds } = checked.value;
    if (!scope) {
      const counts = await this.reader.groupOnlineCounts(groupIds);
      // fromEntries defines own properties, so an id such as `__proto__` is a plain key.
      return { ok: true, result: { counts: Object.fromEntries(counts) }, known: true };
    }
    // A group the asker may not watch counts 0, as a group without members does.
    const counts = await this.reader.groupOnlineCounts(groupIds.filter((id) => scope.mayWatchGroup(id)));
    return { ok: true, result: { counts: Object.fromEntries(groupIds.map((id) => [id, counts.get(id) ?? 0])) }, known: true };
  }

  private async whereNow(params: unknown, scope: WatchScope | undefined): Promise<Answer<WhereNowResult>> {
    const checked = checkWhereNow(params);
    if (!checked.ok) return failure(QueryCode.BAD_REQUEST, `invalid params: ${checked.reason}`);
    const { userId } = checked.value;
    const idProblem = invalidIdReason(userId);
    if (idProblem) return failure(QueryCode.BAD_REQUEST, `invalid params: /userId is not a valid id: ${idProblem}`);
    if (scope && !scope.mayWatchUser(userId)) return failure(QueryCode.FORBIDDEN, `not allowed to watch user '${userId}'`);
    const state = await this.reader.user(userId);
    // Watching a user shows its online state, not its groups: those are seen only as a group's watcher.
    const groups = state ? [...state.groups].filter((groupId) => !scope || scope.mayWatchGroup(groupId)) : [];
    return { ok: true, result: { userId, groups }, known: state !== undefined };
  }

  private idList<K extends string, P extends Record<K, string[]>>(
    checked: Checked<P>,
    key: K,
  ): { ok: true; value: P } | { ok: false; error: QueryError } {
    if (!checked.ok) return failure(QueryCode.BAD_REQUEST, `invalid params: ${checked.reason}`);
    const ids = checked.value[key];
    if (ids.length > this.limits.maxIds) {
      return failure(QueryCode.TOO_LARGE, `${ids.length} ${key} is over the limit of ${this.limits.maxIds} per call`);
    }
    for (const [index, id] of ids.entries()) {
      const problem = invalidIdReason(id);
      if (problem) return failure(QueryCode.BAD_REQUEST, `invalid params: /${key}/${index} is not a valid id: ${problem}`);
    }
    return checked;
  }
}

/** A user's answer: `lastSeen` only while offline, and only when the user was ever seen online. */
function member(id: string, state: { online: boolean; data: UserData; seq: number; lastSeen?: number }): Member {
  const answer: Member = { id, online: state.online, data: state.data, seq: state.seq };
  if (!state.online && state.lastSeen !== undefined) answer.lastSeen = state.lastSeen;
  return answer;
}

function isMethod(name: string): name is MethodName {
  return (METHODS as readonly string[]).includes(name);
}

function refusal(id: RequestId | null, code: number, content: string): { ok: false; reply: ErrorReply } {
  return { ok: false, reply: { id, ...errorBody(code, content) } };
}

function failure(code: number, content: string): { ok: false; error: QueryError } {
  return { ok: false, ...errorBody(code, content) };
}
